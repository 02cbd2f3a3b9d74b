"""Queries that run inside the store's open session: lookups, counts and the job listing.

Private to db/: the store (db/store.py) opens the session and calls these; nothing else does.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.orm import Session

from db.models import CheckpointModel, EpochModel, JobModel, SweepModel
from db.records import JOB_STATUSES, MAX_ID, Checkpoint, JobInfo
from mnistgrid.errors import BadInput, NotFound, printable
from mnistgrid.spec import MAX_SWEEP_NAME


def update_rows(model: type[Any]) -> Any:
    # No ORM objects are loaded in these sessions: skip syncing the identity map.
    return update(model).execution_options(synchronize_session=False)


def find_sweep(session: Session, ref: str | int) -> SweepModel:
    """A sweep by id, or by name. A ref of digits is an id first: new names are never all
    digits, and an old one is found by its name only when no sweep has that id."""
    sweep = session.get(SweepModel, int(ref)) if is_id(str(ref)) else None
    if sweep is None and isinstance(ref, str) and "\x00" not in ref:
        # (PostgreSQL's text cannot hold a NUL: no name has one)
        sweep = session.scalar(select(SweepModel).where(SweepModel.name == ref))
    if sweep is None:
        raise NotFound(f"no sweep '{printable(str(ref))}'")
    return sweep


def is_id(ref: str) -> bool:
    """Whether `ref` spells an id the tables can hold (ASCII digits, 1..MAX_ID)."""
    return ref.isascii() and ref.isdigit() and len(ref) <= 10 and 0 < int(ref) <= MAX_ID


def find_job(session: Session, job_id: int) -> None:
    if session.scalar(select(JobModel.job_id).where(JobModel.job_id == job_id)) is None:
        raise NotFound(f"no job {job_id}")


def next_free_name(session: Session, name: str) -> str:
    taken = set(
        session.scalars(
            select(SweepModel.name).where(SweepModel.name.startswith(f"{name}-", autoescape=True))
        )
    )
    number = 2
    while f"{name}-{number}" in taken:
        number += 1
    free = f"{name}-{number}"
    if len(free) > MAX_SWEEP_NAME:
        raise BadInput(
            f"sweep {name} exists with a different grid, and {free} would be over "
            f"{MAX_SWEEP_NAME} characters: pick another name (--name)"
        )
    return free


def status_counts(session: Session, sweep_id: int) -> dict[str, int]:
    """Jobs of one sweep per status, every status listed."""
    return all_status_counts(session, JobModel.sweep_id == sweep_id).get(
        sweep_id, dict.fromkeys(JOB_STATUSES, 0)
    )


def all_status_counts(
    session: Session, where: ColumnElement[bool] | None = None
) -> dict[int, dict[str, int]]:
    """{sweep_id: {status: n}}, every status listed, for the sweeps that have jobs."""
    query = select(JobModel.sweep_id, JobModel.status, func.count()).group_by(
        JobModel.sweep_id, JobModel.status
    )
    if where is not None:
        query = query.where(where)
    counts: dict[int, dict[str, int]] = {}
    for owner, status, n in session.execute(query):
        counts.setdefault(owner, dict.fromkeys(JOB_STATUSES, 0))[status] = n
    return counts


def job_select(where: ColumnElement[bool]) -> Any:
    """Jobs with their last epoch's number and valid_acc, in JobInfo's field order.

    Two correlated subqueries, each one probe of the (job_id, epoch) index per job: the cost
    follows the sweep's size, not the size of the whole epochs table.
    """
    last = select(EpochModel).where(EpochModel.job_id == JobModel.job_id)
    extra = {
        "last_epoch": last.with_only_columns(func.max(EpochModel.epoch)).scalar_subquery(),
        "last_valid_acc": last.with_only_columns(EpochModel.valid_acc)
        .order_by(EpochModel.epoch.desc())
        .limit(1)
        .scalar_subquery(),
    }
    columns = [
        extra[f.name] if f.name in extra else getattr(JobModel, f.name) for f in fields(JobInfo)
    ]
    return select(*columns).where(where).order_by(JobModel.job_id)


def latest_checkpoints(session: Session, job_ids: list[int]) -> dict[int, Checkpoint]:
    rows = session.execute(
        select(
            CheckpointModel.job_id,
            CheckpointModel.epoch,
            CheckpointModel.state,
            CheckpointModel.saved_at,
        ).where(CheckpointModel.job_id.in_(job_ids))
    )
    return {row.job_id: Checkpoint(row.epoch, bytes(row.state), row.saved_at) for row in rows}
