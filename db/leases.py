"""The lease rules, in one place: who holds a running job, until when, and what a loss costs.

- A claim makes the job `running` for one worker (`jobs.worker`, unique per process) until
  `jobs.lease_until`: now plus the holder's own MNISTGRID_LEASE_SECONDS. The holder renews it
  (every epoch, and from a keeper thread every quarter lease) for as long as it holds the job.
- Only the holder may write to a running job: its epochs, its run info, its end, its hand-back.
- Everyone else judges the lease by `lease_until` alone, on the store's clock: a reader's own
  lease setting never decides whether another process's job is lost.
- An attempt is one start of the job. A start that ends with the holder handing the job back
  (a warm shutdown) costs nothing; a start whose holder vanished (its lease ran out) costs one
  of MNISTGRID_MAX_ATTEMPTS only when it made no progress: no epoch stored after the one it
  resumed from. So restarts and faults never use up a job that trains, and a job that kills its
  worker every time still ends.

Private to db/: these work inside a session the store (db/store.py) opened.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import ColumnElement, and_, case, exists, func, select
from sqlalchemy.orm import Session

from db.clock import Clock
from db.models import EpochModel, JobModel, SweepModel
from db.queries import update_rows


def lease_live(clock: Clock) -> ColumnElement[bool]:
    """The job's lease has not run out (whoever holds it, whatever their lease length)."""
    return and_(JobModel.lease_until.is_not(None), JobModel.lease_until > clock.now())


def lease_values(clock: Clock, lease_seconds: float) -> dict[str, Any]:
    """What a claim or a renewal writes: the heartbeat, and the lease's end."""
    return {"heartbeat_at": clock.now(), "lease_until": clock.ahead(lease_seconds)}


NO_LEASE: dict[str, Any] = {"heartbeat_at": None, "lease_until": None}


def held_by(worker: str) -> ColumnElement[bool]:
    """The running job is `worker`'s (its lease may have run out: nobody took it yet)."""
    return and_(JobModel.status == "running", JobModel.worker == worker)


def progressed() -> ColumnElement[bool]:
    """The current start stored an epoch after the one it resumed from."""
    return exists(
        select(EpochModel.epoch).where(
            EpochModel.job_id == JobModel.job_id,
            EpochModel.epoch > func.coalesce(JobModel.start_epoch, 0),
        )
    )


def charged_loss() -> ColumnElement[int]:
    """`lost_attempts` once the current start is counted lost: one more without progress."""
    return JobModel.lost_attempts + case((progressed(), 0), else_=1)


def renew(
    session: Session, clock: Clock, job_ids: Collection[int], worker: str, lease_seconds: float
) -> dict[int, str]:
    """Renew `worker`'s leases on those of `job_ids` it holds; {job_id: its sweep's status}."""
    if not job_ids:
        return {}
    # The sweeps' statuses are read apart: SQLAlchemy writes SQLite's RETURNING without table
    # names, so a subquery there on sweeps.sweep_id = jobs.sweep_id compared the column with
    # itself and gave every job the first sweep's status.
    held = session.execute(
        update_rows(JobModel)
        .where(JobModel.job_id.in_(sorted(job_ids)), held_by(worker))
        .values(**lease_values(clock, lease_seconds))
        .returning(JobModel.job_id, JobModel.sweep_id)
    ).all()
    status_of = dict(
        session.execute(
            select(SweepModel.sweep_id, SweepModel.status).where(
                SweepModel.sweep_id.in_({sweep_id for _, sweep_id in held})
            )
        ).all()
    )
    return {job_id: status_of[sweep_id] for job_id, sweep_id in held}


def release(
    session: Session, clock: Clock, job_ids: Collection[int], worker: str, **also: Any
) -> list[int]:
    """Hand `worker`'s running jobs back: `queued`, no lease, nothing charged, their epochs
    and checkpoints kept, and the columns in `also` set too (a shared part's own stack key);
    returns those it held. The caller sends their messages again."""
    if not job_ids:
        return []
    released = session.scalars(
        update_rows(JobModel)
        .where(JobModel.job_id.in_(sorted(job_ids)), held_by(worker))
        .values(status="queued", worker=None, sent_at=clock.now(), **NO_LEASE, **also)
        .returning(JobModel.job_id)
    ).all()
    return sorted(released)
