"""Standings: what every job of a sweep recorded at an epoch, and the stopping rule applied to
them in the transaction that records the epoch (so no restart can skip a decision).

Private to db/: these work inside a session the store (db/store.py) opened.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from db.models import EpochModel, JobModel, SweepModel
from mnistgrid.core.stopping import Reached, jobs_to_stop
from mnistgrid.spec import StopSpec


def standings(
    session: Session,
    sweep_id: int,
    epoch: int,
    metric: str,
    *,
    best_so_far: bool = False,
    larger_is_better: bool = True,
) -> dict[int, tuple[str, float | None]]:
    """Every job of the sweep that has finished `epoch`: its model, and its `metric`
    (`valid_acc` or `valid_loss`) at that epoch, or with `best_so_far` its best up to it."""
    column = {"valid_acc": EpochModel.valid_acc, "valid_loss": EpochModel.valid_loss}[metric]
    reached = and_(JobModel.sweep_id == sweep_id, EpochModel.job_id == JobModel.job_id)
    if best_so_far:
        best = func.max(column) if larger_is_better else func.min(column)
        query = (
            select(JobModel.job_id, JobModel.model, best)
            .where(reached, EpochModel.epoch <= epoch)
            .group_by(JobModel.job_id, JobModel.model)
            .having(func.max(EpochModel.epoch) >= epoch)
        )
    else:
        query = select(JobModel.job_id, JobModel.model, column).where(
            reached, EpochModel.epoch == epoch
        )
    rows = session.execute(query).all()
    return {job_id: (model, value) for job_id, model, value in rows}


def jobs_the_rule_stops(
    session: Session, sweep_id: int, epoch: int, deciding: Collection[int], rule: StopSpec
) -> set[int]:
    """Of `deciding` (jobs that just recorded `epoch`), those the sweep's rule stops there."""
    # Deciders of one sweep take turns: each sees every standing committed before it.
    session.execute(
        select(SweepModel.sweep_id).where(SweepModel.sweep_id == sweep_id).with_for_update()
    )
    found = standings(
        session,
        sweep_id,
        epoch,
        rule.metric,
        best_so_far=rule.rule == "median",
        larger_is_better=rule.mode == "max",
    )
    # The baselines do not train: nothing to stop, and no curve to compare with.
    reached = {
        job: Reached(model, value) for job, (model, value) in found.items() if model != "baseline"
    }
    return jobs_to_stop(rule, [job for job in deciding if job in reached], reached)
