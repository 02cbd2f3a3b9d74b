"""Recording epochs: a stack's epoch rows and checkpoints, its leases renewed, its diverged
members ended and the sweep's stopping rule applied, all in one transaction.

Private to db/: `record_epochs` works inside a session the store (db/store.py) opened.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.clock import Clock
from db.endings import end_jobs
from db.leases import held_by, renew
from db.models import CheckpointModel, EpochModel, JobModel
from db.records import EpochWrite, Recorded, ShareCheck, StopCheck
from db.rows import epoch_values
from db.rungs import park, settle_and_finish
from db.sharing import share_out
from db.standings import jobs_the_rule_stops
from mnistgrid.core.stopping import decides_at


def record_epochs(
    session: Session,
    clock: Clock,
    worker: str,
    lease_seconds: float,
    writes: Sequence[EpochWrite],
    stop: StopCheck | None,
    share: ShareCheck | None = None,
) -> Recorded:
    """Store each write of a job `worker` holds; see `Store.record_epochs`."""
    held = renew(session, clock, [w.job_id for w in writes], worker, lease_seconds)
    mine = [w for w in writes if w.job_id in held]
    store_epochs(session, clock, mine)
    diverged = [w.job_id for w in mine if w.diverged]
    ended = end_jobs(session, clock, diverged, "diverged", held_by(worker))
    alive = [w for w in mine if not w.diverged]
    at_rung = park(session, clock, rung_reached(session, alive, stop), worker)
    stopped = stops(session, [w for w in alive if w.job_id not in at_rung], stop)
    ended += end_jobs(session, clock, stopped, "stopped", held_by(worker))
    if at_rung and stop is not None:
        ended.append(stop.sweep_id)
    finished, settled = settle_and_finish(session, clock, ended)
    keep_training = len(held) == len(writes) and "cancelled" not in held.values()
    shared = []
    if share is not None and keep_training:
        staying = [w.job_id for w in alive if w.job_id not in at_rung and w.job_id not in stopped]
        shared = share_out(session, clock, worker, staying, share, writes[0].row.epoch)
    return Recorded(
        keep_training=keep_training,
        diverged=tuple(diverged),
        stopped=tuple(sorted(stopped)),
        parked=tuple(at_rung),
        promoted=tuple(settled.promoted),
        stopped_at_rung=tuple(settled.stopped),
        shared=tuple(shared),
        sweeps_ended=tuple(finished),
    )


def stops(session: Session, alive: Sequence[EpochWrite], stop: StopCheck | None) -> set[int]:
    """The jobs of `alive` that an asynchronous rule (ASHA, median) stops at the epoch they
    recorded."""
    if stop is None or stop.rule.synchronous or not alive:
        return set()
    epoch = alive[0].row.epoch
    if not decides_at(stop.rule, epoch, stop.epochs):
        return set()
    deciding = [w.job_id for w in alive]
    return jobs_the_rule_stops(session, stop.sweep_id, epoch, deciding, stop.rule)


def rung_reached(
    session: Session, alive: Sequence[EpochWrite], stop: StopCheck | None
) -> list[int]:
    """The jobs of `alive` that a synchronous rule (SHA, Hyperband) parks at the epoch they
    recorded: a rung of their bracket they have not been promoted past."""
    if stop is None or not stop.rule.synchronous or not alive:
        return []
    return waiting_at_rung(session, {w.job_id: w.row.epoch for w in alive}, stop)


def waiting_at_rung(session: Session, epochs: dict[int, int], stop: StopCheck) -> list[int]:
    """Of these jobs at these epochs, those that must wait there for their rung's decision."""
    rows = session.execute(
        select(JobModel.job_id, JobModel.bracket, JobModel.cleared_rung).where(
            JobModel.job_id.in_(sorted(epochs))
        )
    ).all()
    return [
        job_id
        for job_id, bracket, cleared in rows
        if epochs[job_id] > cleared
        and decides_at(stop.rule, epochs[job_id], stop.epochs, bracket or 0)
    ]


def store_epochs(session: Session, clock: Clock, writes: Sequence[EpochWrite]) -> None:
    """The writes' epoch rows and checkpoints, each stamped with one now: a statement each for
    the whole stack (a statement per job and table took most of a stack's epoch write;
    docs/benchmarks.md, "Store")."""
    now = clock.now()
    rows = [{"job_id": w.job_id, **epoch_values(w.row)} for w in writes]
    upsert(session, clock, EpochModel, rows, keys=("job_id", "epoch"), stamps={"recorded_at": now})
    checkpoints = [
        {"job_id": w.job_id, "epoch": w.row.epoch, "state": w.checkpoint}
        for w in writes
        if w.checkpoint is not None
    ]
    upsert(
        session, clock, CheckpointModel, checkpoints, keys=("job_id",), stamps={"saved_at": now}
    )


def upsert(
    session: Session,
    clock: Clock,
    model: type[EpochModel] | type[CheckpointModel],
    rows: list[dict[str, Any]],
    keys: tuple[str, ...],
    stamps: dict[str, Any],
) -> None:
    """Insert the rows (all of the same columns), or update those whose `keys` are there
    already; either way with the `stamps` (column -> SQL value) the same in every row."""
    if not rows:
        return
    # Imported here, by the backend in use: the other's dialect is only import time.
    if clock.postgres:
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    statement = insert(model.__table__).values(stamps)
    updated = [name for name in [*rows[0], *stamps] if name not in keys]
    statement = statement.on_conflict_do_update(
        index_elements=list(keys),
        set_={name: statement.excluded[name] for name in updated},
    )
    session.execute(statement, rows)
