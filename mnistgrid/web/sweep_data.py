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


def point_rows(points: Iterable[EpochPoint]) -> dict[int, list[EpochRow]]:
    """Each job's points as EpochRows that hold what a point holds: the accuracy and the
    seconds; no losses and no per-class accuracies."""
    rows: dict[int, list[EpochRow]] = {}
    for point in points:
        rows.setdefault(point.job_id, []).append(
            EpochRow(point.epoch, None, None, point.valid_acc, (), point.seconds)
        )
    return rows


def job_results(jobs: Iterable[JobInfo], points: Iterable[EpochPoint]) -> list[JobResult]:
    rows = point_rows(points)
    return [job_result(info, rows.get(info.job_id, [])) for info in jobs]


def sweep_data(
    sweep: SweepInfo, jobs: Iterable[JobInfo], points: Iterable[EpochPoint]
) -> SweepData:
    results = tuple(job_results(jobs, points))
    classes = results[0].spec.data.classes if results else tuple(range(10))
    return SweepData(sweep, results, classes, datetime.now(UTC))


def with_full_epochs(store: Store, bests: list[FamilyBest]) -> list[FamilyBest]:
    """The family bests with every column of their epochs, for the headline's mean per-class
    accuracy (the figure the posts quote for the baselines): a few jobs, read alone."""
    return [
        replace(b, job=replace(b.job, epochs=tuple(store.epochs(b.job.job_id)))) for b in bests
    ]
