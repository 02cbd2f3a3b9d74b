"""A sweep's stopping rule, applied by the worker that trains its jobs at each epoch boundary.

    [stop]
    rule = "asha"   # in the grid file: mnistgrid/spec.py StopSpec, mnistgrid/core/stopping.py

The decision is read from the database (every job's standing at the epoch just recorded), so
every worker decides the same from the same table, whoever trains which job.
"""

from __future__ import annotations

from collections.abc import Collection

from db.store import Store
from mnistgrid.core.stopping import Reached, decides_at, jobs_to_stop
from mnistgrid.spec import JobSpec, StopSpec


class EarlyStopper:
    """Which of a stack's jobs the sweep's rule stops after an epoch."""

    def __init__(self, store: Store, sweep_id: int, spec: JobSpec) -> None:
        grid = store.get_sweep(sweep_id).grid
        self.rule = StopSpec.model_validate(grid.get("stop", {}))
        self.store, self.sweep_id, self.spec = store, sweep_id, spec

    def __call__(self, epoch: int, job_ids: Collection[int]) -> set[int]:
        # The baselines do not train: nothing to stop, and no curve to compare with.
        trains = self.spec.model != "baseline"
        if not job_ids or not trains or not decides_at(self.rule, epoch, self.spec.epochs):
            return set()
        standings = self.store.standings(
            self.sweep_id,
            epoch,
            self.rule.metric,
            best_so_far=self.rule.rule == "median",
            larger_is_better=self.rule.mode == "max",
        )
        reached = {
            job: Reached(model, value)
            for job, (model, value) in standings.items()
            if model != "baseline"
        }
        return jobs_to_stop(self.rule, [job for job in job_ids if job in reached], reached)
