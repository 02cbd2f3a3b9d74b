"""The frozen records the results API hands out: a sweep, a job, an epoch.

A job's configuration is spread into columns, each empty (None) where it does not apply, as in
the report's results.csv: a baseline has no loss, lr, seed or batch size, only an MLP has a
hidden size and an activation, only a baseline a distance. Its outcome is the report's: the
numbers its row stores once it has ended, and while it runs the ones its epochs give
(`mnistgrid.report.gather.job_result`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from db.records import EpochRow, JobInfo, SweepInfo
from mnistgrid.report.gather import JobResult
from mnistgrid.spec import is_sweep_name

DIGITS = tuple(range(10))


@dataclass(frozen=True, slots=True)
class SweepRecord:
    """A sweep: its name, its state, and its jobs per status (every status listed)."""

    sweep_id: int
    name: str
    status: str
    created_at: datetime
    finished_at: datetime | None
    jobs: int
    counts: Mapping[str, int] = field(repr=False)
    # The grid file as submitted (its tables as mappings).
    grid: Mapping[str, Any] = field(repr=False)
    report_status: str | None = None

    @property
    def ref(self) -> str:
        """How a command line names it: its name, or its id for a name stored before the name
        rule (`1`, `a b`)."""
        return self.name if is_sweep_name(self.name) else str(self.sweep_id)

    @property
    def stop_rule(self) -> str:
        """The sweep's early-stopping rule: none, median, asha, sha or hyperband."""
        return str(self.grid.get("stop", {}).get("rule", "none"))


@dataclass(frozen=True, slots=True)
class JobRecord:
    """One job: its configuration, status and outcome. Accuracies are on the validation set."""

    sweep_id: int
    job_id: int
    family: str  # baseline mae, baseline mse, linear, mlp: what the report compares
    model: str
    loss: str | None
    lr: float | None
    hidden: int | None
    activation: str | None
    distance: str | None
    init_std: float | None
    seed: int | None
    batch_size: int | None
    epochs: int  # planned
    digits: str | None  # a pair such as "3,7"; None: all ten digits
    status: str
    final_acc: float | None
    best_acc: float | None
    best_epoch: int | None
    epochs_trained: int  # its last stored epoch
    seconds: float | None  # training time, summed over its epochs
    worker: str | None
    device: str | None
    attempts: int
    bracket: int | None  # its Hyperband bracket
    error: str | None

    @property
    def config(self) -> str:
        """The configuration in one line, as the report labels it (without the seed)."""
        if self.model == "baseline":
            return f"baseline {self.distance}"
        shape = f"mlp{self.hidden}-{self.activation}" if self.model == "mlp" else self.model
        return f"{shape} {self.loss} lr={self.lr:g} batch={self.batch_size}"


@dataclass(frozen=True, slots=True)
class EpochRecord:
    """One epoch of one job. A loss may be NaN or infinite (the job diverged), or None (the
    baseline has none). `digit_acc[d]` is the accuracy on digit d: None for a digit the job's
    task leaves out (a pair), NaN for one with no validation examples."""

    sweep_id: int
    job_id: int
    epoch: int
    train_loss: float | None
    valid_loss: float | None
    valid_acc: float | None
    digit_acc: tuple[float | None, ...]
    seconds: float


def sweep_record(sweep: SweepInfo) -> SweepRecord:
    return SweepRecord(
        sweep_id=sweep.sweep_id,
        name=sweep.name,
        status=sweep.status,
        created_at=sweep.created_at,
        finished_at=sweep.finished_at,
        jobs=sweep.n_jobs,
        counts=dict(sweep.counts),
        grid=sweep.grid,
        report_status=sweep.report_status,
    )


def job_record(info: JobInfo, result: JobResult) -> JobRecord:
    spec = result.spec
    trained, mlp = spec.model != "baseline", spec.model == "mlp"
    digits = spec.data.digits
    return JobRecord(
        sweep_id=info.sweep_id,
        job_id=info.job_id,
        family=spec.family,
        model=spec.model,
        loss=spec.loss if trained else None,
        lr=spec.lr if trained else None,
        hidden=spec.hidden if mlp else None,
        activation=spec.activation if mlp else None,
        distance=None if trained else spec.distance,
        init_std=spec.init_std if trained else None,
        seed=spec.seed if trained else None,
        batch_size=spec.batch_size if trained else None,
        epochs=spec.epochs if trained else 1,
        digits=None if digits is None else f"{digits[0]},{digits[1]}",
        status=info.status,
        final_acc=result.final_acc,
        best_acc=result.best_acc,
        best_epoch=result.best_epoch,
        epochs_trained=info.last_epoch or 0,
        seconds=result.seconds,
        worker=info.worker,
        device=info.device,
        attempts=info.attempts,
        bracket=info.bracket,
        error=info.error,
    )


def digit_order(classes: tuple[int, ...]) -> tuple[int | None, ...]:
    """For each digit 0..9, the index of its class in a job's class order, or None."""
    return tuple(classes.index(d) if d in classes else None for d in DIGITS)


def epoch_record(
    sweep_id: int, job_id: int, row: EpochRow, order: tuple[int | None, ...]
) -> EpochRecord:
    accs = row.per_class_acc
    if order == DIGITS and len(accs) == 10:
        digit_acc: tuple[float | None, ...] = accs
    else:
        digit_acc = tuple(None if i is None or i >= len(accs) else accs[i] for i in order)
    return EpochRecord(
        sweep_id,
        job_id,
        row.epoch,
        row.train_loss,
        row.valid_loss,
        row.valid_acc,
        digit_acc,
        row.seconds,
    )
