"""A sweep as the report sees it (`SweepData`), made from the light read a live page polls.

The report's gather reads every column of every epoch (losses, per-class accuracies); a sweep
page needs each epoch's accuracy and time only, which `Store.sweep_changes` reads at a third of
the cost. The jobs and their bests then go through the report's own `job_result`, so the
page and the report agree on every number.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime

from db.records import EpochPoint, EpochRow, JobInfo, SweepInfo
from db.store import Store
from mnistgrid.report.gather import JobResult, SweepData, job_result
from mnistgrid.report.summary import FamilyBest
from mnistgrid.spec import StopSpec

Points = dict[int, list[EpochPoint]]


def by_job(points: Iterable[EpochPoint]) -> Points:
    found: Points = {}
    for point in points:
        found.setdefault(point.job_id, []).append(point)
    return found


def point_rows(points: list[EpochPoint]) -> list[EpochRow]:
    """EpochRows that hold what a point holds: the accuracy and the seconds; no losses and no
    per-class accuracies."""
    return [EpochRow(p.epoch, None, None, p.valid_acc, (), p.seconds) for p in points]


def job_results(jobs: Iterable[JobInfo], points: Points) -> list[JobResult]:
    """The report's `job_result` of each job. Its epochs only count where the job row lacks a
    number it stores at the end (running jobs, mostly), so only those jobs get them: an
    ended job's numbers are its row's, as in the report, and the page skips 40,000 rows."""
    return [
        job_result(info, point_rows(points.get(info.job_id, [])) if unfinished(info) else [])
        for info in jobs
    ]


def unfinished(info: JobInfo) -> bool:
    stored = (info.final_acc, info.best_acc, info.best_epoch, info.train_seconds)
    return any(value is None for value in stored)


def sweep_data(sweep: SweepInfo, jobs: Iterable[JobInfo], points: Points) -> SweepData:
    results = tuple(job_results(jobs, points))
    classes = results[0].spec.data.classes if results else tuple(range(10))
    stop = StopSpec.model_validate(sweep.grid.get("stop", {}))
    return SweepData(sweep, results, classes, datetime.now(UTC), stop)


def with_full_epochs(store: Store, bests: list[FamilyBest]) -> list[FamilyBest]:
    """The family bests with every column of their epochs, for the headline's mean per-class
    accuracy (the figure the posts quote for the baselines): a few jobs, read alone."""
    return [
        replace(b, job=replace(b.job, epochs=tuple(store.epochs(b.job.job_id)))) for b in bests
    ]
