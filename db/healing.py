"""Healing: what dead workers, lost messages and a person's `resume` put back in motion.

Each function takes its rows over atomically (row locks on PostgreSQL, SQLite's write lock
from BEGIN) and checks its condition again in its UPDATE, so of many reconcilers running at once
exactly one gets each row back, and only that one sends it.

Private to db/: these work inside a session the store (db/store.py) opened.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import and_, func, or_, select, true
from sqlalchemy.orm import Session

from db.clock import Clock
from db.leases import NO_LEASE, charged_loss, lease_live
from db.models import JobModel, SweepModel
from db.queries import find_sweep, status_counts, update_rows
from db.records import LostJob, TakeOver, gave_up_error
from db.rungs import settle_and_finish


def take_over_lost_jobs(
    session: Session, clock: Clock, max_attempts: int, sweep_id: int | None
) -> TakeOver:
    """Every running job whose lease ran out (of one sweep, or of all): its start counted lost
    (when it made no progress), then back to `queued` to be sent again, or `failed` once it
    has been lost `max_attempts` times without progress."""
    where = [JobModel.status == "running", ~lease_live(clock)]
    if sweep_id is not None:
        where.append(JobModel.sweep_id == sweep_id)
    found = session.execute(
        select(JobModel.job_id, JobModel.sweep_id, JobModel.worker, charged_loss())
        .where(*where)
        .order_by(JobModel.job_id)
        .with_for_update(skip_locked=True)
    ).all()
    lost = [
        take_over(session, clock, LostJob(*row, requeued=False), max_attempts) for row in found
    ]
    failed_in = [job.sweep_id for job in lost if not job.requeued]
    ended, _ = settle_and_finish(session, clock, failed_in)
    return TakeOver(tuple(lost), tuple(ended))


def take_over(session: Session, clock: Clock, job: LostJob, max_attempts: int) -> LostJob:
    still_lost = [
        JobModel.job_id == job.job_id,
        JobModel.status == "running",
        JobModel.worker == job.worker,
        ~lease_live(clock),
    ]
    if job.lost_attempts < max_attempts:
        # `worker` keeps the lost holder's name: `mnistgrid status` and a later give-up can
        # still say which worker it was.
        session.execute(
            update_rows(JobModel)
            .where(*still_lost)
            .values(
                status="queued", lost_attempts=job.lost_attempts, sent_at=clock.now(), **NO_LEASE
            )
        )
        return LostJob(job.job_id, job.sweep_id, job.worker, job.lost_attempts, requeued=True)
    session.execute(
        update_rows(JobModel)
        .where(*still_lost)
        .values(
            status="failed",
            finished_at=clock.now(),
            lost_attempts=job.lost_attempts,
            error=gave_up_error(job.lost_attempts, job.worker, max_attempts),
            lease_until=None,
        )
    )
    return job


def queued_sent_before(clock: Clock, seconds: float, sweep_id: int | None) -> Any:
    """Queued jobs whose latest message was sent more than `seconds` ago."""
    return and_(
        JobModel.status == "queued",
        or_(JobModel.sent_at.is_(None), JobModel.sent_at < clock.ago(seconds)),
        JobModel.sweep_id == sweep_id if sweep_id is not None else true(),
    )


def mark_sent_again(
    session: Session, clock: Clock, job_ids: Iterable[int], seconds: float
) -> list[int]:
    ids = sorted(set(job_ids))
    if not ids:
        return []
    marked = session.scalars(
        update_rows(JobModel)
        .where(JobModel.job_id.in_(ids), queued_sent_before(clock, seconds, None))
        .values(sent_at=clock.now())
        .returning(JobModel.job_id)
    ).all()
    return sorted(marked)


def fail_queued(session: Session, clock: Clock, job_id: int, error: str) -> int | None:
    """A queued job that can never run (its stored params no longer validate): `failed` with
    why. Its sweep's id, or None when it was no longer queued."""
    sweep_id = session.scalar(
        update_rows(JobModel)
        .where(JobModel.job_id == job_id, JobModel.status == "queued")
        .values(status="failed", finished_at=clock.now(), error=error)
        .returning(JobModel.sweep_id)
    )
    return sweep_id


def requeue_unfinished(session: Session, clock: Clock, sweep_id: int) -> list[int]:
    """`mnistgrid resume`: every job not succeeded, diverged or stopped and not held on a live
    lease back to `queued`, its attempts' losses forgiven; the sweep queued or running again."""
    find_sweep(session, sweep_id)
    requeued = session.scalars(
        update_rows(JobModel)
        .where(
            JobModel.sweep_id == sweep_id,
            or_(
                JobModel.status.in_(("queued", "failed", "cancelled")),
                and_(JobModel.status == "running", ~lease_live(clock)),
            ),
        )
        .values(
            status="queued",
            worker=None,
            finished_at=None,
            error=None,
            lost_attempts=0,
            sent_at=clock.now(),
            **NO_LEASE,
        )
        .returning(JobModel.job_id)
    ).all()
    reopen_sweep(session, clock, sweep_id)
    return sorted(requeued)


def reopen_sweep(session: Session, clock: Clock, sweep_id: int) -> None:
    counts = status_counts(session, sweep_id)
    reopened = {"finished_at": None, "report_status": None, "report_error": None}
    if counts["running"] or counts["parked"]:
        values: dict[str, Any] = {"status": "running", **reopened}
    elif counts["queued"]:
        values = {"status": "queued", **reopened}
    else:  # nothing left to run: every job succeeded, diverged or stopped
        values = {
            "status": "finished",
            "finished_at": func.coalesce(SweepModel.finished_at, clock.now()),
        }
    session.execute(
        update_rows(SweepModel).where(SweepModel.sweep_id == sweep_id).values(**values)
    )
