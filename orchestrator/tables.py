"""The tables `mnistgrid sweeps` and `mnistgrid status` print."""

from __future__ import annotations

from datetime import UTC, datetime

from rich.table import Table

from db.records import TERMINAL_JOB_STATUSES, JobInfo, SweepInfo, WorkerInfo
from orchestrator.progress import config_label, epochs_of, status_text


def sweeps_table(sweeps: list[SweepInfo]) -> Table:
    table = Table("id", "name", "status", "jobs", "done", "failed", "created")
    for s in sweeps:
        ended = sum(s.counts.get(k, 0) for k in TERMINAL_JOB_STATUSES)
        table.add_row(
            str(s.sweep_id),
            s.name,
            s.status,
            str(s.n_jobs),
            str(ended),
            str(s.counts.get("failed", 0)),
            f"{s.created_at:%Y-%m-%d %H:%M}",
        )
    return table


def workers_table(workers: list[WorkerInfo]) -> Table | str:
    """The live workers, or a line saying there are none (nothing trains until one starts)."""
    if not workers:
        return "no live workers: nothing trains until one starts (`mnistgrid worker`)"
    table = Table("worker", "queues", "slots", title="live workers")
    for worker in workers:
        table.add_row(worker.name, ",".join(worker.queues), str(worker.slots))
    return table


def jobs_table(title: str, jobs: list[JobInfo]) -> Table:
    """One row per job; a running job whose worker died shows as lost, with that worker."""
    table = Table(
        "job", "config", "status", "epoch", "accuracy", "best", "seconds", "worker", title=title
    )
    now = datetime.now(UTC)
    for j in jobs:
        table.add_row(
            str(j.job_id),
            config_label(j),
            status_text(j, now),
            f"{j.last_epoch or 0}/{epochs_of(j)}",
            fmt(j.last_valid_acc),
            fmt(j.best_acc),
            "" if j.train_seconds is None else f"{j.train_seconds:.1f}",
            j.worker or "",
        )
    return table


def fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"
