"""The plain frozen values the store takes and hands back; callers never see ORM rows."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mnistgrid.spec import StopSpec, is_sweep_name

JOB_STATUSES = (
    "queued",
    "running",
    "parked",
    "succeeded",
    "diverged",
    "stopped",
    "failed",
    "cancelled",
)
# A job in one of these has ended; it never changes again (but for `mnistgrid resume`, which
# runs failed and cancelled jobs again). `stopped`: by the sweep's early-stopping rule.
# `parked`: waiting at a rung of a synchronous rule (sha, hyperband) for its bracket.
TERMINAL_JOB_STATUSES = ("succeeded", "diverged", "stopped", "failed", "cancelled")
# The largest id (sweep, job) or epoch number the tables hold: their keys are INTEGER, 32 bits
# on PostgreSQL. A larger number names nothing, and must not reach a query (psycopg refuses it).
MAX_ID = 2**31 - 1


@dataclass(frozen=True, slots=True)
class NewJob:
    """One job of a sweep being created. `spec` is `JobSpec.model_dump(mode="json")`."""

    key: str
    spec: Mapping[str, Any]
    model: str
    loss: str | None
    lr: float | None
    group_key: str | None = None
    bracket: int | None = None  # its Hyperband bracket


@dataclass(frozen=True, slots=True)
class SweepCreated:
    sweep_id: int
    name: str
    # False when a sweep of that name and grid already existed (nothing was written).
    created: bool


@dataclass(frozen=True, slots=True)
class SweepInfo:
    sweep_id: int
    name: str
    grid: Mapping[str, Any]
    grid_hash: str
    status: str
    created_at: datetime
    finished_at: datetime | None
    # Jobs per status, every status present (zero when none).
    counts: Mapping[str, int] = field(default_factory=dict)
    # The report a finished sweep asked a worker for: None (not asked), requested, written or
    # failed (with its error); `report_at` is when that state began.
    report_status: str | None = None
    report_at: datetime | None = None
    report_error: str | None = None

    @property
    def n_jobs(self) -> int:
        return sum(self.counts.values())

    @property
    def ref(self) -> str:
        """How a command line names this sweep: its name, or its id when the name breaks the
        name rule (stored before it: `1` would be read as an id, `a b` split by a shell)."""
        return self.name if is_sweep_name(self.name) else str(self.sweep_id)


@dataclass(frozen=True, slots=True)
class EpochRow:
    """One epoch's metrics. Losses may be NaN or +-inf (diverged) or None (baseline)."""

    epoch: int
    train_loss: float | None
    valid_loss: float | None
    valid_acc: float | None
    # NaN stands for a class with no validation examples.
    per_class_acc: tuple[float, ...]
    seconds: float

    def __post_init__(self) -> None:
        if not isinstance(self.per_class_acc, tuple):
            object.__setattr__(self, "per_class_acc", tuple(self.per_class_acc))


@dataclass(frozen=True, slots=True)
class EpochPage:
    """A page of a sweep's epochs in (job, epoch) order: `rows[i]` is an epoch of job
    `job_ids[i]`. `Store.scan_epochs` reads a sweep as such pages."""

    job_ids: tuple[int, ...]
    rows: tuple[EpochRow, ...]

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def last_key(self) -> tuple[int, int]:
        """(job id, epoch) of its last row: where the next page starts after."""
        return self.job_ids[-1], self.rows[-1].epoch


@dataclass(frozen=True, slots=True)
class EpochWrite:
    """One job's epoch as its worker records it: the row, the checkpoint after it (None when
    the job diverged: its parameters are no use), and whether the job ends `diverged` here."""

    job_id: int
    row: EpochRow
    checkpoint: bytes | None = None
    diverged: bool = False


@dataclass(frozen=True, slots=True)
class StopCheck:
    """A sweep's early-stopping rule as the jobs being recorded meet it: `epochs` is theirs
    (the rule decides nothing at the last epoch)."""

    sweep_id: int
    rule: StopSpec
    epochs: int


@dataclass(frozen=True, slots=True)
class ShareCheck:
    """A stack that splits over idle slots of `queue` (db/sharing.py) while its members have
    at least two of their `epochs` left."""

    queue: str
    epochs: int


@dataclass(frozen=True, slots=True)
class Recorded:
    """What `record_epochs` did. `keep_training`: every job is still the worker's and its sweep
    not cancelled; otherwise the stack stops at this epoch boundary."""

    keep_training: bool
    diverged: tuple[int, ...] = ()
    stopped: tuple[int, ...] = ()  # by an asynchronous rule (ASHA, median), at this epoch
    parked: tuple[int, ...] = ()  # by a synchronous rule (SHA, Hyperband): waiting at a rung
    promoted: tuple[int, ...] = ()  # past a rung this epoch completed: queued, to be sent
    stopped_at_rung: tuple[int, ...] = ()  # ... and the parked jobs that rung stopped
    shared: tuple[int, ...] = ()  # handed back to train on idle slots, to be sent
    sweeps_ended: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class JobInfo:
    """A job's row plus its last epoch: what the status table and `mnistgrid show` print."""

    job_id: int
    sweep_id: int
    key: str
    model: str
    loss: str | None
    lr: float | None
    group_key: str | None
    status: str
    attempts: int
    lost_attempts: int
    worker: str | None
    heartbeat_at: datetime | None
    lease_until: datetime | None
    sent_at: datetime | None
    device: str | None
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None
    cleared_rung: int
    bracket: int | None
    final_acc: float | None
    best_acc: float | None
    best_epoch: int | None
    train_seconds: float | None
    last_epoch: int | None
    last_valid_acc: float | None
    # The full JobSpec as stored; `JobSpec.model_validate(params)` gives it back.
    params: Mapping[str, Any]
    run_info: Mapping[str, Any] | None

    def lease_expired(self, now: datetime) -> bool:
        """Running, but its holder's lease ran out before `now`: it was lost, and the reconcile
        sends the job again."""
        if self.status != "running":
            return False
        return self.lease_until is None or self.lease_until <= now


@dataclass(frozen=True, slots=True)
class EpochPoint:
    """One epoch as a live chart needs it: its accuracy and time, and whether it was written
    since the moment asked about (`Store.sweep_changes`)."""

    job_id: int
    epoch: int
    valid_acc: float | None
    seconds: float
    fresh: bool


@dataclass(frozen=True, slots=True)
class SweepChanges:
    """What `Store.sweep_changes` read: jobs written since a moment (or running on an expired
    lease), and every stored epoch of those jobs. `read_at` is the store's clock as the read
    began: the moment to ask from next time."""

    read_at: datetime
    jobs: tuple[JobInfo, ...]
    points: tuple[EpochPoint, ...]


@dataclass(frozen=True, slots=True)
class Checkpoint:
    epoch: int
    state: bytes
    saved_at: datetime


@dataclass(frozen=True, slots=True)
class Claim:
    """A job this worker now holds: train it from `checkpoint` (or from scratch when None)."""

    job_id: int
    sweep_id: int
    attempt: int
    spec: Mapping[str, Any]
    checkpoint: Checkpoint | None
    group_key: str | None = None


@dataclass(frozen=True, slots=True)
class Claimed:
    """What `claim_jobs` did: the jobs the worker now holds, the jobs it failed instead because
    they had used up their attempts, and the sweeps whose last job that failure ended (their
    reports are to be asked for)."""

    claims: tuple[Claim, ...] = ()
    gave_up: tuple[int, ...] = ()
    sweeps_ended: tuple[int, ...] = ()


def gave_up_error(lost: int, last_worker: str | None, max_attempts: int) -> str:
    """Why a job whose workers kept dying ends `failed`."""
    return (
        f"its worker was lost {lost} times before it stored an epoch (last {last_worker}); "
        f"gave up after {max_attempts} attempts (MNISTGRID_MAX_ATTEMPTS)"
    )


@dataclass(frozen=True, slots=True)
class LostJob:
    """A running job whose lease expired, taken over by this reconcile: `requeued` (to send
    again) or `failed` (it had used up its attempts). `lost_attempts` counts this loss when
    the start made no progress."""

    job_id: int
    sweep_id: int
    worker: str | None
    lost_attempts: int
    requeued: bool


@dataclass(frozen=True, slots=True)
class TakeOver:
    """What `take_over_lost_jobs` did: the jobs it took, and the sweeps whose last job it
    failed (their reports are to be asked for)."""

    lost: tuple[LostJob, ...]
    sweeps_ended: tuple[int, ...]

    def requeued_by_sweep(self) -> dict[int, list[int]]:
        by_sweep: dict[int, list[int]] = {}
        for job in self.lost:
            if job.requeued:
                by_sweep.setdefault(job.sweep_id, []).append(job.job_id)
        return by_sweep


@dataclass(frozen=True, slots=True)
class Finished:
    """What `finish_job` did. Truthy when the job's status changed."""

    applied: bool
    # True exactly once per sweep: this finish ended its last unfinished job.
    sweep_finished: bool
    sweep_id: int | None = None

    def __bool__(self) -> bool:
        return self.applied


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """A live worker on the roster (db/roster.py)."""

    name: str
    queues: tuple[str, ...]
    slots: int
