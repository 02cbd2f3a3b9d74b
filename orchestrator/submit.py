"""Submitting a grid: validate, write the sweep and its jobs in one transaction, then queue.

mnistgrid submit examples/quick.toml --wait
"""

from __future__ import annotations

from dataclasses import dataclass

from celery import Celery

from db.records import NewJob
from db.store import Store
from mnistgrid.errors import BadInput
from mnistgrid.queue.publish import queue_jobs
from mnistgrid.settings import Settings
from mnistgrid.spec import sweep_name_problem
from orchestrator.grid import Grid
from orchestrator.plan import plan


@dataclass(frozen=True)
class Submitted:
    sweep_id: int
    name: str
    created: bool
    n_jobs: int
    n_tasks: int


def plan_sweep(grid: Grid, settings: Settings) -> list[NewJob]:
    """Every check that needs no database or broker, then the sweep's jobs."""
    time_limit = grid.spec.train.time_limit
    if time_limit > settings.max_job_seconds:
        raise BadInput(
            f"train.time_limit: {time_limit:g} s is over MNISTGRID_MAX_JOB_SECONDS "
            f"({settings.max_job_seconds:g} s)"
        )
    return plan(grid, settings.max_grid_jobs, settings.group_size, settings.group_memory_mb << 20)


def sweep_name(grid: Grid, name: str | None) -> str:
    """The new sweep's name: `name` (`--name`) when given, else the grid's. A given name must
    follow the name rule (mnistgrid/spec.py, `sweep_name_problem`)."""
    if name is None:
        return grid.name
    if (problem := sweep_name_problem(name)) is not None:
        raise BadInput(f"--name: {problem}")
    return name


def submit_grid(
    grid: Grid, jobs: list[NewJob], name: str | None, new: bool, store: Store, app: Celery
) -> Submitted:
    """Write the sweep and its jobs in one transaction, then queue them (unless this grid was
    already submitted under this name). The caller checks the broker (`check_broker`) before
    it opens `store`, whose opening may create and migrate the database."""
    name = sweep_name(grid, name)
    grid_json = grid.spec.model_dump(mode="json")
    sweep = store.create_sweep(name, grid_json, grid.hash(), jobs, new=new)
    if not sweep.created:
        return Submitted(sweep.sweep_id, sweep.name, False, len(jobs), 0)
    jobs_of = store.sweep_jobs(sweep.sweep_id)
    n_tasks = queue_jobs(app, jobs_of, sweep.name, grid.spec.train.time_limit)
    return Submitted(sweep.sweep_id, sweep.name, True, len(jobs), n_tasks)
