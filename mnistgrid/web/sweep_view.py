"""The sweep page: its jobs as rows, its figures, and the report's summaries of it, read from
the store in one light read (`Store.sweep_changes`) and the report's own functions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from db.records import JobInfo, SweepInfo
from db.store import Store
from mnistgrid.report.formats import acc, seconds, seeds_text
from mnistgrid.report.gather import JobResult, SweepData
from mnistgrid.report.summary import (
    FamilyBest,
    RungCount,
    family_bests,
    gap_verdicts,
    loss_bests,
    rung_counts,
    several_seeds,
)
from mnistgrid.settings import Settings
from mnistgrid.web.charts.curves import curves_figure, curves_layout
from mnistgrid.web.charts.headline import headline_figure
from mnistgrid.web.charts.losses import losses_figure
from mnistgrid.web.charts.lr_sensitivity import lr_figure
from mnistgrid.web.charts.parallel import parallel_figure
from mnistgrid.web.links import flower_tasks_url, report_url
from mnistgrid.web.rows import STATUSES, JobRow, job_row
from mnistgrid.web.sweep_data import Points, by_job, sweep_data, with_full_epochs


@dataclass(frozen=True, slots=True)
class HeadlineRow:
    family: str
    best: str
    mean_class: str
    seeds: str
    config: str
    peak_epoch: str
    seconds: str
    posts: str
    job_id: int
    job_status: str


@dataclass(frozen=True, slots=True)
class Summary:
    """What changes only when jobs end: the headline and the report's figures."""

    headline: list[HeadlineRow]
    verdicts: list[str]
    figures: dict[str, object]
    rungs: list[RungCount]


@dataclass(frozen=True, slots=True)
class SweepPage:
    sweep: SweepInfo
    data: SweepData
    points: Points
    rows: list[JobRow]
    summary: Summary
    curves: dict[str, object]
    curve_jobs: list[list[int]]  # the jobs of each trace of the curves, in order
    cursor: datetime
    report_url: str | None
    flower_url: str | None
    filters: dict[str, list[str]]


@dataclass(frozen=True, slots=True)
class SweepTable:
    """A sweep's jobs as table rows, every epoch's accuracy, and the cursor of the read."""

    sweep: SweepInfo
    data: SweepData
    points: Points
    rows: list[JobRow]
    cursor: datetime


def sweep_table(store: Store, ref: str, settings: Settings) -> SweepTable:
    sweep = store.get_sweep(ref)
    changes = store.sweep_changes(sweep.sweep_id, None)
    points = by_job(changes.points)
    data = sweep_data(sweep, changes.jobs, points)
    rows = job_rows(changes.jobs, data.jobs)
    return SweepTable(sweep, data, points, rows, changes.read_at)


def sweep_page(store: Store, ref: str, settings: Settings) -> SweepPage:
    table = sweep_table(store, ref, settings)
    curves, members = curves_figure(table.data, table.points)
    return SweepPage(
        sweep=table.sweep,
        data=table.data,
        points=table.points,
        rows=table.rows,
        summary=summary(store, table.data),
        curves=curves,
        curve_jobs=members,
        cursor=table.cursor,
        report_url=report_url(settings.reports_dir, table.sweep),
        flower_url=flower_tasks_url(settings.flower_url, table.sweep.name),
        filters=filters(table.rows),
    )


def job_rows(
    jobs: tuple[JobInfo, ...] | list[JobInfo],
    results: tuple[JobResult, ...] | list[JobResult],
) -> list[JobRow]:
    now = datetime.now(UTC)
    return [job_row(info, result, now) for info, result in zip(jobs, results, strict=True)]


def filters(rows: list[JobRow]) -> dict[str, list[str]]:
    """The choices of each filter: what the sweep has, and every status there can be."""
    lrs = sorted({(row.lr_value, row.lr) for row in rows if row.lr_value is not None})
    return {
        "model": sorted({row.model for row in rows}),
        "loss": sorted({row.loss for row in rows if row.loss}),
        "lr": [text for _, text in lrs],
        "status": list(dict.fromkeys((*STATUSES, *(row.status for row in rows)))),
    }


def summary(store: Store, data: SweepData) -> Summary:
    bests = with_full_epochs(store, family_bests(data))
    verdicts = gap_verdicts(bests) if several_seeds(data) else []
    figures = {
        "headline": headline_figure(bests),
        "lr": lr_figure(data),
        "losses": losses_figure(data, loss_bests(data)),
        "parallel": parallel_figure(data),
        # The baselines' lines on the learning curves move when a baseline ends.
        "curves_layout": curves_layout(data),
    }
    return Summary([headline_row(b) for b in bests], verdicts, figures, rung_counts(data))


def headline_row(best: FamilyBest) -> HeadlineRow:
    job = best.job
    return HeadlineRow(
        family=best.family,
        best=acc(job.best_acc),
        mean_class=acc(best.mean_class_acc),
        seeds=seeds_text(best.seeds),
        config=job.config_label,
        peak_epoch=str(job.best_epoch or ""),
        seconds=seconds(job.seconds),
        posts=best.reference_text,
        job_id=job.job_id,
        job_status=job.status,
    )


def sweep_summary(
    store: Store, ref: str, settings: Settings
) -> tuple[SweepInfo, Summary, str | None]:
    """The summary alone, with the sweep and its report's address (None until written), for a
    live page whose jobs ended since it was drawn."""
    sweep = store.get_sweep(ref)
    changes = store.sweep_changes(sweep.sweep_id, None)
    data = sweep_data(sweep, changes.jobs, by_job(changes.points))
    return sweep, summary(store, data), report_url(settings.reports_dir, sweep)
