"""Claims: which of a task's jobs a worker may start, taken in one transaction.

Private to db/: `claim_jobs` works inside a session the store (db/store.py) opened.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Row, func, select
from sqlalchemy.orm import Session

from db.clock import Clock
from db.leases import charged_loss, lease_live, lease_values
from db.models import JobModel, SweepModel
from db.queries import latest_checkpoints, update_rows
from db.records import TERMINAL_JOB_STATUSES, Claim, Claimed, gave_up_error
from db.rungs import settle_and_finish


def claim_jobs(
    session: Session,
    clock: Clock,
    job_ids: Iterable[int],
    worker: str,
    lease_seconds: float,
    max_attempts: int,
) -> Claimed:
    """Take what `worker` may run of `job_ids` (see `sort_claims` for the rules)."""
    ids = sorted(set(job_ids))
    if not ids:
        return Claimed()
    rows = session.execute(
        select(
            JobModel.job_id,
            JobModel.sweep_id,
            JobModel.status,
            JobModel.worker,
            JobModel.params,
            JobModel.group_key,
            SweepModel.status.label("sweep_status"),
            lease_live(clock).label("lease_live"),
            charged_loss().label("lost_if_running"),
            JobModel.lost_attempts,
        )
        .join(SweepModel, SweepModel.sweep_id == JobModel.sweep_id)
        .where(JobModel.job_id.in_(ids))
        .order_by(JobModel.job_id)
        # Row locks on PostgreSQL; SQLite holds the whole write lock since BEGIN.
        .with_for_update(of=JobModel)
    ).all()
    taken, cancelled, spent = sort_claims(rows, worker, max_attempts)
    if cancelled:
        session.execute(
            update_rows(JobModel)
            .where(JobModel.job_id.in_(cancelled))
            .values(status="cancelled", finished_at=clock.now())
        )
    gave_up = [fail_spent(session, clock, row, lost, max_attempts) for row, lost in spent]
    ended, _ = settle_and_finish(session, clock, [row.sweep_id for row, _ in spent])
    claims = start(session, clock, taken, worker, lease_seconds)
    return Claimed(tuple(claims), tuple(gave_up), tuple(ended))


def sort_claims(
    rows: Iterable[Row[Any]], worker: str, max_attempts: int
) -> tuple[list[tuple[Row[Any], int]], list[int], list[tuple[Row[Any], int]]]:
    """(to start, to cancel, to fail) with each job's lost attempts counted so far.

    - ended jobs are left alone: a duplicate delivery; so are parked ones (waiting at a rung);
    - a job another worker holds on a live lease is left to it;
    - a running job whose holder's lease ran out was lost: that start is counted (if it made no
      progress) before the job starts again; one this worker holds is a retry of its own;
    - a job of a cancelled sweep ends `cancelled`;
    - a job lost `max_attempts` times without progress ends `failed` instead of starting.
    """
    taken, cancelled, spent = [], [], []
    for row in rows:
        if row.status in TERMINAL_JOB_STATUSES or row.status == "parked":
            continue
        mine = row.worker == worker
        if row.status == "running" and row.lease_live and not mine:
            continue
        if row.sweep_status == "cancelled":
            cancelled.append(row.job_id)
            continue
        lost_before = row.lost_if_running if row.status == "running" and not mine else None
        lost = row.lost_attempts if lost_before is None else lost_before
        (spent if lost >= max_attempts else taken).append((row, lost))
    return taken, cancelled, spent


def fail_spent(session: Session, clock: Clock, row: Row[Any], lost: int, max_attempts: int) -> int:
    session.execute(
        update_rows(JobModel)
        .where(JobModel.job_id == row.job_id)
        .values(
            status="failed",
            finished_at=clock.now(),
            lost_attempts=lost,
            error=gave_up_error(lost, row.worker, max_attempts),
            lease_until=None,
        )
    )
    return row.job_id


def start(
    session: Session,
    clock: Clock,
    taken: list[tuple[Row[Any], int]],
    worker: str,
    lease_seconds: float,
) -> list[Claim]:
    """The jobs are `worker`'s from now, resuming from their checkpoints."""
    if not taken:
        return []
    saved = latest_checkpoints(session, [row.job_id for row, _ in taken])
    # One UPDATE per (resume epoch, losses): a stack usually shares both.
    groups: dict[tuple[int, int], list[int]] = {}
    for row, lost in taken:
        resumed_after = saved[row.job_id].epoch if row.job_id in saved else 0
        groups.setdefault((resumed_after, lost), []).append(row.job_id)
    attempts: dict[int, int] = {}
    for (resumed_after, lost), ids in groups.items():
        started = session.execute(
            update_rows(JobModel)
            .where(JobModel.job_id.in_(ids))
            .values(
                status="running",
                attempts=JobModel.attempts + 1,
                lost_attempts=lost,
                worker=worker,
                start_epoch=resumed_after,
                started_at=func.coalesce(JobModel.started_at, clock.now()),
                **lease_values(clock, lease_seconds),
            )
            .returning(JobModel.job_id, JobModel.attempts)
        )
        attempts.update({job_id: attempt for job_id, attempt in started})
    session.execute(
        update_rows(SweepModel)
        .where(
            SweepModel.sweep_id.in_({row.sweep_id for row, _ in taken}),
            SweepModel.status == "queued",
        )
        .values(status="running")
    )
    return [
        Claim(
            job_id=row.job_id,
            sweep_id=row.sweep_id,
            attempt=attempts[row.job_id],
            spec=row.params,
            checkpoint=saved.get(row.job_id),
            group_key=row.group_key,
        )
        for row, _ in taken
    ]
