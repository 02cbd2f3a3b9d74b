"""Confusion matrices for each family's best job, where they can be had honestly.

The store keeps per-class accuracy, not predictions. The baseline has no parameters, so its
matrix is recomputed from the data (class means, nearest by its distance) and must agree with
the stored accuracy. A trained job needs its stored checkpoint, which is the job's LAST saved
epoch (not necessarily its best), and the data. Without either, the report says so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from db.store import Store
from mnistgrid.core.baseline import class_means, predict
from mnistgrid.core.checkpoint import BadCheckpoint, load_checkpoint
from mnistgrid.core.losses import predictions
from mnistgrid.core.models import forward, member_shapes
from mnistgrid.core.sizes import VALID_CHUNK
from mnistgrid.core.train_data import TrainData
from mnistgrid.data.memo import Memo
from mnistgrid.errors import MnistgridError
from mnistgrid.spec import DataSpec, JobSpec

TaskLoader = Callable[[DataSpec], TrainData]


@dataclass(frozen=True, slots=True)
class Confusion:
    """counts[t][p]: validation examples of class index t predicted as class index p."""

    counts: tuple[tuple[int, ...], ...]
    classes: tuple[int, ...]
    # Where the predictions came from, said under the figure.
    source: str
    # The stored epoch these predictions are from; None for the baseline (its only epoch).
    epoch: int | None = None

    def per_class_acc(self) -> tuple[float, ...]:
        return tuple(
            row[i] / total if (total := sum(row)) else float("nan")
            for i, row in enumerate(self.counts)
        )


@dataclass(frozen=True, slots=True)
class Unavailable:
    reason: str


def confusion_counts(pred: torch.Tensor, y: torch.Tensor, n_classes: int) -> torch.Tensor:
    flat = torch.bincount(y * n_classes + pred, minlength=n_classes * n_classes)
    return flat.view(n_classes, n_classes)  # (true, predicted)


# A worker writes many reports, and two baselines' matrices were 0.3 s of each: they depend
# only on the distance and the data.
_baselines: Memo[tuple[str, DataSpec, str], Confusion] = Memo(size=8)


def baseline_confusion(spec: JobSpec, data: TrainData) -> Confusion:
    key = (spec.distance, spec.data, data.checksum)
    return _baselines.get(key, lambda: nearest_mean_confusion(spec, data))


def nearest_mean_confusion(spec: JobSpec, data: TrainData) -> Confusion:
    means = class_means(data.x_train, data.y_train, data.n_classes)
    pred = predict(means, data.x_valid, spec.distance)
    counts = confusion_counts(pred, data.y_valid, data.n_classes)
    source = "class means recomputed from the training data"
    return Confusion(_tuples(counts), data.classes, source)


@torch.no_grad()
def checkpoint_confusion(spec: JobSpec, state: bytes, data: TrainData) -> Confusion:
    saved = load_checkpoint(state, member_shapes(spec, data.n_classes))
    params = [p.unsqueeze(0).float() for p in saved.params]  # one member: K = 1
    chunks = [
        predictions(forward(spec, params, xb))[0]  # (1,B,C) -> (B,)
        for xb in data.x_valid.split(VALID_CHUNK)
    ]
    counts = confusion_counts(torch.cat(chunks), data.y_valid, data.n_classes)
    source = f"the stored checkpoint of epoch {saved.epoch}, re-evaluated"
    return Confusion(_tuples(counts), data.classes, source, saved.epoch)


def best_job_confusion(
    store: Store, job_id: int, spec: JobSpec, load_data: TaskLoader | None
) -> Confusion | Unavailable:
    state = None
    if spec.model != "baseline":
        checkpoint = store.checkpoint(job_id)
        if checkpoint is None:
            return Unavailable("the store keeps no checkpoint of this job")
        state = checkpoint.state
    if load_data is None:
        return Unavailable("the MNIST data was not given to the report")
    try:
        data = load_data(spec.data)
    except MnistgridError as error:
        return Unavailable(f"the MNIST data could not be loaded ({error})")
    if state is None:
        return baseline_confusion(spec, data)
    try:
        return checkpoint_confusion(spec, state, data)
    except BadCheckpoint as error:
        return Unavailable(f"the stored {error}")


def _tuples(counts: torch.Tensor) -> tuple[tuple[int, ...], ...]:
    return tuple(tuple(int(v) for v in row) for row in counts.tolist())
