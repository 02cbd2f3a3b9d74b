"""Recording epochs: a stack's epoch rows and checkpoints, its leases renewed, its diverged
members ended and the sweep's stopping rule applied, all in one transaction.

Private to db/: `record_epochs` works inside a session the store (db/store.py) opened.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from db.clock import Clock
from db.endings import end_jobs, finish_sweeps_if_done
from db.leases import held_by, renew
from db.models import CheckpointModel, EpochModel
from db.records import EpochWrite, Recorded, StopCheck
from db.rows import epoch_values
from db.standings import jobs_the_rule_stops
from mnistgrid.core.stopping import decides_at


def record_epochs(
    session: Session,
    clock: Clock,
    worker: str,
    lease_seconds: float,
    writes: Sequence[EpochWrite],
    stop: StopCheck | None,
) -> Recorded:
    """Store each write of a job `worker` holds; see `Store.record_epochs`."""
    held = renew(session, clock, [w.job_id for w in writes], worker, lease_seconds)
    mine = [w for w in writes if w.job_id in held]
    for write in mine:
        store_epoch(session, clock, write)
    diverged = [w.job_id for w in mine if w.diverged]
    ended = end_jobs(session, clock, diverged, "diverged", held_by(worker))
    stopped = stops(session, [w for w in mine if not w.diverged], stop)
    ended += end_jobs(session, clock, stopped, "stopped", held_by(worker))
    return Recorded(
        keep_training=len(held) == len(writes) and "cancelled" not in held.values(),
        diverged=tuple(diverged),
        stopped=tuple(sorted(stopped)),
        sweeps_ended=tuple(finish_sweeps_if_done(session, clock, ended)),
    )


def stops(session: Session, alive: Sequence[EpochWrite], stop: StopCheck | None) -> set[int]:
    """The jobs of `alive` that the sweep's rule stops at the epoch they recorded."""
    if stop is None or not alive:
        return set()
    epoch = alive[0].row.epoch
    if not decides_at(stop.rule, epoch, stop.epochs):
        return set()
    deciding = [w.job_id for w in alive]
    return jobs_the_rule_stops(session, stop.sweep_id, epoch, deciding, stop.rule)


def store_epoch(session: Session, clock: Clock, write: EpochWrite) -> None:
    now = clock.now()
    row = {"job_id": write.job_id, **epoch_values(write.row), "recorded_at": now}
    upsert(session, clock, EpochModel, row, keys=("job_id", "epoch"))
    if write.checkpoint is not None:
        checkpoint = {
            "job_id": write.job_id,
            "epoch": write.row.epoch,
            "state": write.checkpoint,
            "saved_at": now,
        }
        upsert(session, clock, CheckpointModel, checkpoint, keys=("job_id",))


def upsert(
    session: Session,
    clock: Clock,
    model: type[EpochModel] | type[CheckpointModel],
    values: dict[str, Any],
    keys: tuple[str, ...],
) -> None:
    dialect = postgresql if clock.postgres else sqlite
    statement = dialect.insert(model.__table__).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=list(keys),
        set_={name: statement.excluded[name] for name in values if name not in keys},
    )
    session.execute(statement)
