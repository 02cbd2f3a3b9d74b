"""One job as a row of the sweep page's table: what each cell says and how it sorts and
filters. The page renders these rows, and a live update sends the ones that changed."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from db.records import JOB_STATUSES, JobInfo
from mnistgrid.report.formats import acc, seconds
from mnistgrid.report.gather import JobResult

# `stopped` (early stopping) is on its way; a status this list does not know is still shown,
# in a neutral style. `lost`: running, but its worker stopped writing (see `state`).
STATUSES = tuple(dict.fromkeys((*JOB_STATUSES, "stopped", "lost")))


@dataclass(frozen=True, slots=True)
class JobRow:
    job_id: int
    model: str  # baseline, linear or mlp: what the model filter picks
    shape: str  # `baseline mse`, `linear`, `mlp64-sigmoid`
    loss: str
    lr: str
    config: str  # the rest that sets it apart: batch size and seed
    status: str  # the job's status, or `lost`
    status_note: str
    epoch: int
    epochs: int
    acc: str
    best: str
    acc_value: float | None
    best_value: float | None
    lr_value: float | None
    seconds: str
    worker: str

    def as_json(self) -> dict[str, object]:
        return asdict(self)


def state(info: JobInfo, now: datetime) -> tuple[str, str]:
    """The status to show and a note on it: a running job whose lease expired is `lost` (the
    reconcile of every worker sends it again), as `mnistgrid status` shows it."""
    if info.lease_expired(now):
        return "lost", f"its worker {info.worker} stopped writing; it is being sent again"
    if info.error:
        return info.status, info.error.splitlines()[0][:200]
    return info.status, rung_note(info)


def rung_note(info: JobInfo) -> str:
    """Where a job stands with the sweep's rungs, if anywhere."""
    if info.status == "parked":
        return f"waiting at epoch {info.last_epoch} for every job of its bracket to get there"
    if info.status == "stopped":
        return f"stopped by the sweep's rule after epoch {info.last_epoch}"
    if info.cleared_rung:
        return f"promoted past the rung at epoch {info.cleared_rung}"
    return ""


def job_row(info: JobInfo, result: JobResult, now: datetime) -> JobRow:
    spec = result.spec
    trained = spec.model != "baseline"
    status, note = state(info, now)
    return JobRow(
        job_id=info.job_id,
        model=spec.model,
        shape=spec.shape_label(),
        loss=spec.loss if trained else "",
        lr=f"{spec.lr:g}" if trained else "",
        config=f"batch={spec.batch_size} seed={spec.seed}" if trained else "",
        status=status,
        status_note=note,
        epoch=info.last_epoch or 0,
        epochs=spec.epochs if trained else 1,
        acc=acc(info.last_valid_acc),
        best=acc(result.best_acc),
        acc_value=info.last_valid_acc,
        best_value=result.best_acc,
        lr_value=spec.lr if trained else None,
        seconds=seconds(result.seconds),
        worker=info.worker or "",
    )
