"""What a live view polls: the jobs of a sweep written since a moment, with their epochs.

Private to db/: `sweep_changes` works inside a session the store (db/store.py) opened.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, or_, select, true
from sqlalchemy.orm import Session

from db.clock import Clock
from db.leases import lease_live
from db.models import EpochModel, JobModel
from db.queries import find_sweep, job_select
from db.records import EpochPoint, JobInfo, SweepChanges

# A write stamps its rows before it commits (PostgreSQL's now() is its transaction's start), so
# a row can become visible after a reader's clock has passed its stamp: `sweep_changes` looks
# this far back before the moment it is given. Writes last milliseconds; this is ample.
STAMP_LAG_SECONDS = 2.0


def sweep_changes(
    session: Session, clock: Clock, sweep_id: int, since: datetime | None
) -> SweepChanges:
    """See `Store.sweep_changes`."""
    read_at = clock.read(session)
    find_sweep(session, sweep_id)
    where: ColumnElement[bool] = JobModel.sweep_id == sweep_id
    fresh: ColumnElement[bool] = true()
    if since is not None:
        since -= timedelta(seconds=STAMP_LAG_SECONDS)
        where = and_(where, changed_since(clock, since))
        fresh = EpochModel.recorded_at >= since
    connection = session.connection()
    jobs = tuple(JobInfo(*row) for row in connection.execute(job_select(where)).all())
    # .all(): fetching 40,000 rows at once costs a quarter of fetching them one by one.
    points = connection.execute(
        select(
            EpochModel.job_id, EpochModel.epoch, EpochModel.valid_acc, EpochModel.seconds, fresh
        )
        .where(EpochModel.job_id.in_(select(JobModel.job_id).where(where)))
        .order_by(EpochModel.job_id, EpochModel.epoch)
    ).all()
    return SweepChanges(
        read_at, jobs, tuple(EpochPoint(j, e, a, s, bool(f)) for j, e, a, s, f in points)
    )


def changed_since(clock: Clock, since: datetime) -> ColumnElement[bool]:
    # Every write to a job stamps one of these (an epoch renews the heartbeat); a lease that
    # ran out is the one change nobody writes.
    return or_(
        JobModel.heartbeat_at >= since,
        JobModel.sent_at >= since,
        JobModel.finished_at >= since,
        and_(JobModel.status == "running", ~lease_live(clock)),
    )
