"""How jobs and sweeps end: a terminal status once, its summary from the stored epochs, and the
report asked for by whichever end was the sweep's last.

Private to db/: these work inside a session the store (db/store.py) opened.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from db.clock import Clock
from db.models import UNFINISHED_JOB_STATUSES, EpochModel, JobModel, SweepModel
from db.queries import update_rows


def job_summaries(session: Session, job_ids: Collection[int]) -> dict[int, dict[str, Any]]:
    """Per job, final and best accuracy over every stored epoch (those before a resume
    included), and the seconds they took: the columns an ended job keeps. One query for all
    of them; a job without epochs has none."""
    rows = session.execute(
        select(EpochModel.job_id, EpochModel.epoch, EpochModel.valid_acc, EpochModel.seconds)
        .where(EpochModel.job_id.in_(job_ids), EpochModel.valid_acc.is_not(None))
        .order_by(EpochModel.job_id, EpochModel.epoch)
    ).all()
    summaries = {}
    for job_id, group in itertools.groupby(rows, key=lambda row: row.job_id):
        epochs = list(group)
        best = max(epochs, key=lambda row: row.valid_acc)
        summaries[job_id] = {
            "final_acc": epochs[-1].valid_acc,
            "best_acc": best.valid_acc,
            "best_epoch": best.epoch,
            "train_seconds": sum(row.seconds for row in epochs),
        }
    return summaries


def end_jobs(
    session: Session,
    clock: Clock,
    job_ids: Collection[int],
    status: str,
    holder: ColumnElement[bool],
    **values: Any,
) -> list[int]:
    """Move those of `job_ids` that match `holder` to `status`, each with its summary; returns
    the ended jobs' sweeps (with repeats)."""
    if not job_ids:
        return []
    summaries = job_summaries(session, job_ids)
    sweeps = []
    for job_id in sorted(job_ids):
        sweep_id = session.scalar(
            update_rows(JobModel)
            .where(JobModel.job_id == job_id, holder)
            .values(
                status=status,
                finished_at=clock.now(),
                lease_until=None,
                **summaries.get(job_id, {}),
                **values,
            )
            .returning(JobModel.sweep_id)
        )
        if sweep_id is not None:
            sweeps.append(sweep_id)
    return sweeps


def finish_sweeps_if_done(session: Session, clock: Clock, sweep_ids: Collection[int]) -> list[int]:
    """Of `sweep_ids`, those whose last unfinished job just ended: now `finished`."""
    return [s for s in sorted(set(sweep_ids)) if finish_sweep_if_done(session, clock, s)]


def finish_sweep_if_done(session: Session, clock: Clock, sweep_id: int) -> bool:
    # The sweep row lock makes two jobs finishing at once agree on which one was last.
    status = session.scalar(
        select(SweepModel.status).where(SweepModel.sweep_id == sweep_id).with_for_update()
    )
    if status not in ("queued", "running"):
        return False
    unfinished = session.scalar(
        select(func.count())
        .select_from(JobModel)
        .where(JobModel.sweep_id == sweep_id, JobModel.status.in_(UNFINISHED_JOB_STATUSES))
    )
    if unfinished:
        return False
    # The report is asked for in the same transaction: a worker that dies before sending the
    # request leaves it `requested`, and the reconcile sends it.
    session.execute(
        update_rows(SweepModel)
        .where(SweepModel.sweep_id == sweep_id)
        .values(
            status="finished",
            finished_at=clock.now(),
            report_status="requested",
            report_at=clock.now(),
            report_error=None,
        )
    )
    return True
