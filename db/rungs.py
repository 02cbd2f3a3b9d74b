"""Synchronous rungs (rules `sha` and `hyperband`): jobs parked at a rung, and the decision once
every job of their bracket has reached it or ended.

The decision is taken in the transaction that completes the rung, under the sweep's row lock,
so of two workers completing it at once exactly one decides. The top 1/reduction of the
bracket go on (`queued` again, the rung `cleared`), re-stacked with the survivors of other
stacks of their shape; the rest end `stopped`. When those stacks are fewer than the workers'
idle slots (db/roster.py), they are split until each idle slot has one: otherwise a rung's
few survivors would train on one worker while the others wait.

Private to db/: these work inside a session the store (db/store.py) opened.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Row, func, select
from sqlalchemy.orm import Session

from db.clock import Clock
from db.endings import end_jobs, finish_sweeps_if_done
from db.leases import NO_LEASE, held_by
from db.models import UNFINISHED_JOB_STATUSES, EpochModel, JobModel, SweepModel
from db.queries import update_rows
from db.roster import idle_slots
from mnistgrid.core.stacking import fused_groups, group_key, shape_of
from mnistgrid.core.stopping import promoted
from mnistgrid.routing import queue_of
from mnistgrid.spec import JobSpec, StopSpec

# Stacks are sized by count at a rung: the plan already kept them within memory.
NO_MEMORY_BOUND = 1 << 62


@dataclass
class Settled:
    """What deciding the complete rungs did: jobs promoted (queued again, to be sent) and jobs
    stopped."""

    promoted: list[int] = field(default_factory=list)
    stopped: list[int] = field(default_factory=list)


def park(session: Session, clock: Clock, job_ids: Collection[int], worker: str) -> list[int]:
    """`worker`'s running jobs wait at their rung: `parked`, no holder, no lease."""
    if not job_ids:
        return []
    parked = session.scalars(
        update_rows(JobModel)
        .where(JobModel.job_id.in_(sorted(job_ids)), held_by(worker))
        .values(status="parked", worker=None, **NO_LEASE)
        .returning(JobModel.job_id)
    ).all()
    return sorted(parked)


def settle(session: Session, clock: Clock, sweep_id: int) -> Settled:
    """Decide every rung of the sweep that has jobs parked at it and is complete."""
    waiting = session.scalar(
        select(func.count())
        .select_from(JobModel)
        .where(JobModel.sweep_id == sweep_id, JobModel.status == "parked")
    )
    if not waiting:
        return Settled()
    grid = session.scalar(
        select(SweepModel.grid).where(SweepModel.sweep_id == sweep_id).with_for_update()
    )
    rule = StopSpec.model_validate(grid.get("stop", {}))
    jobs = sweep_jobs(session, sweep_id)
    settled = Settled()
    for (group, rung), parked in pending(rule, jobs).items():
        members = [job for job in jobs if comparison_group(rule, job) == group]
        if any(job.status in UNFINISHED_JOB_STATUSES and job.reached < rung for job in members):
            continue  # some job of the bracket has not reached the rung yet
        values = rung_values(session, rule, rung, [j.job_id for j in members if j.reached >= rung])
        going_on = promoted(rule, values, [job.job_id for job in parked])
        stopped = [job.job_id for job in parked if job.job_id not in going_on]
        end_jobs(session, clock, stopped, "stopped", JobModel.status == "parked")
        promote(session, clock, [j for j in parked if j.job_id in going_on], jobs, rung)
        settled.promoted += sorted(going_on)
        settled.stopped += stopped
    return settled


def sweep_jobs(session: Session, sweep_id: int) -> list[Row[Any]]:
    """The sweep's trained jobs with how far they got (`reached`: their last stored epoch)."""
    reached = (
        select(func.coalesce(func.max(EpochModel.epoch), 0))
        .where(EpochModel.job_id == JobModel.job_id)
        .scalar_subquery()
    )
    return session.execute(
        select(
            JobModel.job_id,
            JobModel.model,
            JobModel.status,
            JobModel.params,
            JobModel.group_key,
            JobModel.bracket,
            reached.label("reached"),
        )
        .where(JobModel.sweep_id == sweep_id, JobModel.model != "baseline")
        .order_by(JobModel.job_id)
    ).all()


def comparison_group(rule: StopSpec, job: Row[Any]) -> tuple[int, str]:
    """Who a job is compared with at a rung: its Hyperband bracket, and its model family unless
    the rule compares across the grid."""
    return job.bracket or 0, job.model if rule.brackets == "family" else "grid"


def pending(rule: StopSpec, jobs: Iterable[Row[Any]]) -> dict[tuple[tuple[int, str], int], list]:
    """Parked jobs by (comparison group, the rung they wait at), lowest rungs first."""
    waiting: dict[tuple[tuple[int, str], int], list] = {}
    for job in jobs:
        if job.status == "parked":
            waiting.setdefault((comparison_group(rule, job), job.reached), []).append(job)
    return dict(sorted(waiting.items(), key=lambda item: item[0][1]))


def rung_values(
    session: Session, rule: StopSpec, rung: int, job_ids: list[int]
) -> dict[int, float | None]:
    column = {"valid_acc": EpochModel.valid_acc, "valid_loss": EpochModel.valid_loss}[rule.metric]
    rows = session.execute(
        select(EpochModel.job_id, column).where(
            EpochModel.job_id.in_(job_ids), EpochModel.epoch == rung
        )
    ).all()
    return {job_id: value for job_id, value in rows}


def promote(
    session: Session, clock: Clock, going_on: list[Row[Any]], jobs: list[Row[Any]], rung: int
) -> None:
    """The survivors go on from the rung as new stacks of their shape, whichever stacks they
    came from, as large as the sweep's largest stack of that shape (1: unfused), and split
    while there are fewer stacks than idle slots of their queue."""
    specs = {job.job_id: JobSpec.model_validate(job.params) for job in going_on}
    if not specs:
        return
    idle = idle_slots(session, clock, queue_of(next(iter(specs.values()))))
    for stack in spread(restack(list(specs.values()), stack_sizes(jobs)), idle):
        ids = [job_id for job_id, spec in specs.items() if spec in stack]
        key = group_key(stack, salt=f"rung {rung}:") if len(stack) > 1 else None
        session.execute(
            update_rows(JobModel)
            .where(JobModel.job_id.in_(ids), JobModel.status == "parked")
            .values(status="queued", cleared_rung=rung, group_key=key, sent_at=clock.now())
        )


def stack_sizes(jobs: list[Row[Any]]) -> dict[str, int]:
    """Per shape, the most jobs the sweep ever stacked together (stopped jobs keep their
    stack's key, so the planned size is never forgotten)."""
    counts: dict[str, int] = {}
    shapes: dict[str, str] = {}
    for job in jobs:
        if job.group_key is not None:
            counts[job.group_key] = counts.get(job.group_key, 0) + 1
            shapes[job.group_key] = shape_of(JobSpec.model_validate(job.params))
    sizes: dict[str, int] = {}
    for key, count in counts.items():
        sizes[shapes[key]] = max(sizes.get(shapes[key], 1), count)
    return sizes


def restack(specs: list[JobSpec], sizes: dict[str, int]) -> list[list[JobSpec]]:
    """The survivors by shape, in as few stacks as their shape's size allows, of even sizes:
    22 survivors of stacks of 16 go on as 11 and 11, not 16 and 6, so that neither waits long
    for the other at the next rung."""
    stacks = []
    by_shape: dict[str, list[JobSpec]] = {}
    for spec in specs:
        by_shape.setdefault(shape_of(spec), []).append(spec)
    for shape, same in by_shape.items():
        fewest = math.ceil(len(same) / sizes.get(shape, 1))
        stacks += fused_groups(same, math.ceil(len(same) / fewest), NO_MEMORY_BOUND)
    return stacks


def spread(stacks: list[list[JobSpec]], slots: int) -> list[list[JobSpec]]:
    """Split the stacks into as many parts as there are `slots`, each time giving one more
    part to the stack with the most members per part: two half stacks on two workers finish an
    epoch sooner than the whole one on one. Stacks are split, never merged (shapes differ)."""
    parts = [1] * len(stacks)
    while stacks and sum(parts) < slots:
        widest = max(range(len(stacks)), key=lambda i: math.ceil(len(stacks[i]) / parts[i]))
        if len(stacks[widest]) <= parts[widest]:
            break  # one member per part everywhere
        parts[widest] += 1
    return [stack[i::n] for stack, n in zip(stacks, parts, strict=True) for i in range(n)]


def settle_and_finish(
    session: Session, clock: Clock, sweep_ids: Collection[int]
) -> tuple[list[int], Settled]:
    """After jobs parked or ended in `sweep_ids`: decide the rungs that became complete, then
    end the sweeps whose last job ended. Returns (sweeps ended, what the rungs settled)."""
    settled = Settled()
    for sweep_id in sorted(set(sweep_ids)):
        done = settle(session, clock, sweep_id)
        settled.promoted += done.promoted
        settled.stopped += done.stopped
    return finish_sweeps_if_done(session, clock, sweep_ids), settled
