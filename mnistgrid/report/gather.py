"""A sweep as the report sees it: three store reads turned into plain frozen values.

Every other module of the report works on `SweepData` only, never on the store.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from db.records import EpochRow, JobInfo, SweepInfo
from db.store import Store
from mnistgrid.spec import JobSpec, StopSpec

# The four families the source posts compare, in the order every table and figure lists them.
FAMILIES = ("baseline mae", "baseline mse", "linear", "mlp")
MODEL_ORDER = ("linear", "mlp")  # the trained ones
LOSS_ORDER = ("mnist_loss", "softmax_mse", "cross_entropy")
UNFINISHED = ("queued", "running", "parked")
FAILED = ("failed", "diverged", "cancelled")


@dataclass(frozen=True, slots=True)
class JobResult:
    """One job: its spec, its outcome and every stored epoch."""

    job_id: int
    spec: JobSpec
    status: str
    # From the job row once it finished; from its stored epochs while it is still running.
    final_acc: float | None
    best_acc: float | None
    best_epoch: int | None
    seconds: float | None
    error: str | None
    epochs: tuple[EpochRow, ...]
    bracket: int | None = None  # its Hyperband bracket
    last_epoch: int = 0  # the last epoch it stored (its epochs may be left out: the web view)

    @property
    def family(self) -> str:
        return self.spec.family

    @property
    def model(self) -> str:
        return self.spec.model

    @property
    def loss(self) -> str | None:
        return None if self.spec.model == "baseline" else self.spec.loss

    @property
    def lr(self) -> float | None:
        return None if self.spec.model == "baseline" else self.spec.lr

    @property
    def seed(self) -> int | None:
        return None if self.spec.model == "baseline" else self.spec.seed

    @property
    def config_key(self) -> str:
        """Equal for jobs that differ only in their seed: the unit that seeds are averaged over."""
        fields = self.spec.canonical()
        fields.pop("seed", None)
        return json.dumps(fields, sort_keys=True, separators=(",", ":"))

    @property
    def config_label(self) -> str:
        """The configuration without its seed: `mlp64-sigmoid cross_entropy lr=1 batch=256`."""
        spec = self.spec
        if spec.model == "baseline":
            return spec.shape_label()
        return f"{spec.shape_label()} {spec.loss} lr={spec.lr:g} batch={spec.batch_size}"

    @property
    def label(self) -> str:
        seed = "" if self.seed is None else f" seed={self.seed}"
        return f"#{self.job_id} {self.config_label}{seed}"

    @property
    def best_row(self) -> EpochRow | None:
        """The epoch the best accuracy came from."""
        for row in self.epochs:
            if row.epoch == self.best_epoch:
                return row
        return _best(self.epochs)


@dataclass(frozen=True, slots=True)
class FullGrid:
    """The same grid run to the end by another sweep (no stopping rule): its best accuracy per
    family, what the stopping rule is measured against."""

    sweep_name: str
    best_acc: Mapping[str, float]


@dataclass(frozen=True, slots=True)
class SweepData:
    sweep: SweepInfo
    jobs: tuple[JobResult, ...]
    # The digit each class index stands for (`DataSpec.classes`): 0..9, or (b, a) for a pair.
    classes: tuple[int, ...]
    made_at: datetime
    stop: StopSpec = StopSpec()
    full_grid: FullGrid | None = None

    @property
    def finished(self) -> bool:
        return not any(job.status in UNFINISHED for job in self.jobs)

    @property
    def pair(self) -> tuple[int, int] | None:
        return self.jobs[0].spec.data.digits if self.jobs else None

    @property
    def families(self) -> tuple[str, ...]:
        present = {job.family for job in self.jobs}
        return tuple(f for f in FAMILIES if f in present)

    @property
    def lrs(self) -> list[float]:
        """The trained jobs' learning rates, each once, smallest first."""
        return sorted({job.lr for job in self.jobs if job.lr is not None})

    def of_family(self, family: str) -> list[JobResult]:
        return [job for job in self.jobs if job.family == family]


def gather(store: Store, sweep_id: int) -> SweepData:
    sweep = store.get_sweep(sweep_id)
    epochs = store.sweep_epochs(sweep.sweep_id)
    jobs = tuple(
        job_result(info, epochs.get(info.job_id, [])) for info in store.sweep_jobs(sweep_id)
    )
    classes = jobs[0].spec.data.classes if jobs else tuple(range(10))
    stop = StopSpec.model_validate(sweep.grid.get("stop", {}))
    full = full_grid(store, sweep) if stop.active else None
    return SweepData(sweep, jobs, classes, datetime.now(UTC), stop, full)


def full_grid(store: Store, sweep: SweepInfo) -> FullGrid | None:
    """The latest finished sweep of the same grid without a stopping rule, if the store has
    one: what stopping early is measured against."""
    same = [
        other
        for other in store.list_sweeps()
        if other.status == "finished"
        and not StopSpec.model_validate(other.grid.get("stop", {})).active
        and _without_stop(other.grid) == _without_stop(sweep.grid)
    ]
    if not same:
        return None
    other = same[-1]
    best: dict[str, float] = {}
    for info in store.sweep_jobs(other.sweep_id):
        family = JobSpec.model_validate(info.params).family
        if info.best_acc is not None:
            best[family] = max(best.get(family, 0.0), info.best_acc)
    return FullGrid(other.name, best)


def _without_stop(grid: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in grid.items() if key not in ("name", "stop")}


def job_result(info: JobInfo, epochs: list[EpochRow]) -> JobResult:
    best = _best(epochs)
    last = epochs[-1] if epochs else None

    def either(stored: float | int | None, derived: float | int | None) -> float | int | None:
        return stored if stored is not None else derived

    return JobResult(
        job_id=info.job_id,
        spec=JobSpec.model_validate(info.params),
        status=info.status,
        final_acc=either(info.final_acc, last.valid_acc if last else None),
        best_acc=either(info.best_acc, best.valid_acc if best else None),
        best_epoch=either(info.best_epoch, best.epoch if best else None),
        seconds=either(info.train_seconds, sum(r.seconds for r in epochs) if epochs else None),
        error=info.error,
        epochs=tuple(epochs),
        bracket=info.bracket,
        last_epoch=info.last_epoch or 0,
    )


def _best(epochs: tuple[EpochRow, ...] | list[EpochRow]) -> EpochRow | None:
    scored = [row for row in epochs if row.valid_acc is not None]
    return max(scored, key=lambda row: row.valid_acc, default=None)
