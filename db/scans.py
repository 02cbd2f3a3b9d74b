"""Reading a big sweep a page at a time: its jobs in id order, its epochs in (job, epoch) order.

Private to db/: the store (db/store.py) opens one short transaction per page and calls these.
Each page starts after the last key of the one before (keyset pagination), so a page costs the
same at the end of a 1,000,000-row sweep as at its start, and a reader holds one page at a time.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import func, select, tuple_
from sqlalchemy.orm import Session

from db.models import EpochModel, JobModel
from db.queries import job_select
from db.records import EpochPage, JobInfo
from db.rows import EPOCH_COLUMNS, epoch_rows


def jobs_page(session: Session, sweep_id: int, after: int, limit: int) -> list[JobInfo]:
    """Up to `limit` jobs of the sweep with ids above `after`, in id order."""
    where = (JobModel.sweep_id == sweep_id) & (JobModel.job_id > after)
    rows = session.connection().execute(job_select(where).limit(limit))
    return [JobInfo(*row) for row in rows]


def job_id_range(session: Session, sweep_id: int) -> tuple[int, int] | None:
    """The lowest and highest job id of the sweep (None when it has no job)."""
    low, high = session.execute(
        select(func.min(JobModel.job_id), func.max(JobModel.job_id)).where(
            JobModel.sweep_id == sweep_id
        )
    ).one()
    return None if low is None else (low, high)


def epochs_page(
    session: Session,
    sweep_id: int,
    after: tuple[int, int],
    last_job: int,
    limit: int,
) -> EpochPage:
    """Up to `limit` epochs of the sweep after (job id, epoch) `after`, in that order.

    A range scan of the (job_id, epoch) index from `after` to the sweep's `last_job`: jobs are
    written a sweep at a time, so the range holds (almost) only this sweep's epochs, and the
    sweep filter is a probe of the jobs' primary key per row.
    """
    of_sweep = select(JobModel.job_id).where(JobModel.sweep_id == sweep_id)
    rows = (
        session.connection()
        .execute(
            select(EpochModel.job_id, *EPOCH_COLUMNS)
            .where(
                tuple_(EpochModel.job_id, EpochModel.epoch) > tuple_(*after),
                EpochModel.job_id <= last_job,
                EpochModel.job_id.in_(of_sweep),
            )
            .order_by(EpochModel.job_id, EpochModel.epoch)
            .limit(limit)
        )
        .all()
    )
    return EpochPage(tuple(row[0] for row in rows), tuple(epoch_rows([row[1:] for row in rows])))


def epochs_of(session: Session, job_ids: Iterable[int]) -> dict[int, list]:
    """Each of these jobs (that exists) to its epochs, in order, in one query."""
    wanted = sorted(set(job_ids))
    found: dict[int, list] = {job_id: [] for job_id in wanted}
    if not wanted:
        return found
    rows = (
        session.connection()
        .execute(
            select(EpochModel.job_id, *EPOCH_COLUMNS)
            .where(EpochModel.job_id.in_(wanted))
            .order_by(EpochModel.job_id, EpochModel.epoch)
        )
        .all()
    )
    for row, epoch in zip(rows, epoch_rows([row[1:] for row in rows]), strict=True):
        found[row[0]].append(epoch)
    return found
