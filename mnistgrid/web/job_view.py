"""The job page: its configuration, its attempts and worker, its error, its epochs and their
figures; and the epochs a live job page has not seen yet."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

from db.records import MAX_ID, EpochRow, JobInfo, SweepInfo
from db.store import Store
from mnistgrid.errors import NotFound, printable
from mnistgrid.report.formats import acc, seconds
from mnistgrid.settings import Settings
from mnistgrid.spec import JobSpec
from mnistgrid.web.charts.job import job_extension, job_figures
from mnistgrid.web.links import flower_tasks_url
from mnistgrid.web.rows import state


@dataclass(frozen=True, slots=True)
class EpochLine:
    """One epoch as the job page's table writes it."""

    epoch: int
    train_loss: str
    valid_loss: str
    acc: str
    seconds: str


@dataclass(frozen=True, slots=True)
class JobHead:
    """What the top of the job page says; a live page redraws it."""

    info: JobInfo
    spec: JobSpec
    status: str
    note: str
    epochs: int


@dataclass(frozen=True, slots=True)
class JobPage:
    head: JobHead
    sweep: SweepInfo
    params: list[tuple[str, str]]
    lines: list[EpochLine]
    figures: dict[str, object]
    rerun: str
    flower_url: str | None


def job_id_of(text: str) -> int:
    """The job id in an address; an id the store cannot hold is no job (never a query)."""
    if not (text.isascii() and text.isdigit() and len(text) <= 10 and int(text) <= MAX_ID):
        raise NotFound(f"no job {printable(text)}: a job is named by its number")
    return int(text)


def job_head(info: JobInfo) -> JobHead:
    spec = JobSpec.model_validate(info.params)
    status, note = state(info, datetime.now(UTC))
    return JobHead(info, spec, status, note, 1 if spec.model == "baseline" else spec.epochs)


def job_page(store: Store, job_id: int, settings: Settings) -> JobPage:
    info = store.get_job(job_id)
    head = job_head(info)
    rows = store.epochs(job_id)
    sweep = store.get_sweep(info.sweep_id)
    return JobPage(
        head=head,
        sweep=sweep,
        params=flat_params(info.params),
        lines=[epoch_line(row) for row in rows],
        figures=job_figures(head.spec, rows),
        rerun=f"mnistgrid rerun {job_id}",
        flower_url=flower_tasks_url(settings.flower_url, sweep.name),
    )


def flat_params(params: object, prefix: str = "") -> list[tuple[str, str]]:
    """The stored spec as `key: value` lines, `data.digits` for nested keys."""
    if not isinstance(params, dict):
        return [(prefix, "" if params is None else str(params))]
    lines = []
    for key, value in params.items():
        lines += flat_params(value, f"{prefix}{key}" if not prefix else f"{prefix}.{key}")
    return lines


def loss_text(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:.4f}" if math.isfinite(value) else str(value)


def epoch_line(row: EpochRow) -> EpochLine:
    return EpochLine(
        row.epoch,
        loss_text(row.train_loss),
        loss_text(row.valid_loss),
        acc(row.valid_acc),
        seconds(row.seconds),
    )


def job_update(store: Store, job_id: int, after: int) -> tuple[JobHead, list[EpochRow]]:
    """The job as it is now, and its epochs after epoch `after`."""
    head = job_head(store.get_job(job_id))
    return head, store.epochs(job_id, after=after)


def extension(head: JobHead, rows: list[EpochRow]) -> dict[str, dict[str, list]]:
    return job_extension(head.spec, rows)
