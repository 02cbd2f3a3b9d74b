"""Live progress of a sweep: a bar per job with its current accuracy, and one for the sweep.

mnistgrid watch quick
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn

from db.records import TERMINAL_JOB_STATUSES, JobInfo
from db.store import Store
from mnistgrid.routing import CPU_QUEUE, GPU_QUEUE, queue_of
from mnistgrid.spec import JobSpec

DONE = ("finished", "cancelled")
STATUS_STYLE = {
    "succeeded": "green",
    "diverged": "yellow",
    "stopped": "magenta",  # by the sweep's early-stopping rule: no failure
    "failed": "red",
    "cancelled": "dim",
    "running": "cyan",
    "parked": "yellow",
    "queued": "white",
}


def status_text(job: JobInfo, now: datetime, with_worker: bool = False) -> str:
    """The job's status as rich markup; a running job whose lease expired shows as lost (the
    reconcile of a worker or watcher is sending it again)."""
    if job.lease_expired(now):
        where = f" ({job.worker})" if with_worker else ""
        return f"[bold red]lost{where}, re-sending[/]"
    return f"[{STATUS_STYLE.get(job.status, 'white')}]{job.status}[/]"


def config_label(job: JobInfo) -> str:
    return JobSpec.model_validate(job.params).label()


def job_label(job: JobInfo) -> str:
    return f"#{job.job_id} {config_label(job)}"


def epochs_of(job: JobInfo) -> int:
    return 1 if job.model == "baseline" else int(job.params["epochs"])


# How often the sweep's own row is read (its end is noticed within this), and how often the
# bars are redrawn from every job's row: a sweep of thousands of jobs is read twice a second.
END_POLL = 0.1
BARS_POLL = 0.5
# What takes each queue's jobs (docs/usage.md).
START_WORKER = {
    CPU_QUEUE: f"mnistgrid worker --queues {CPU_QUEUE}",
    GPU_QUEUE: f"mnistgrid worker --queues {GPU_QUEUE} --gpus 0",
}
# How long a queue's jobs may wait with no worker on the roster taking it before the watch
# says so: long enough for workers started with the sweep to check in.
NO_WORKER_GRACE = 10.0


def watch(
    store: Store,
    sweep_id: int,
    console: Console,
    poll: float = BARS_POLL,
    on_poll: Callable[[int], object] | None = None,
) -> str:
    """Show progress until the sweep ends; returns its final status. `on_poll(sweep_id)` runs
    at every redraw (the orchestrator re-sends lost jobs there)."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[acc]}"),
        TextColumn("{task.fields[status]}"),
    )
    # Redrawn when the jobs are read, not ten times a second: rich would otherwise lay out
    # every bar of a big sweep at each of its own refreshes, on the cores training it.
    with Progress(*columns, console=console, auto_refresh=False) as progress:
        jobs = store.sweep_jobs(sweep_id)
        overall = progress.add_task("[bold]sweep", total=len(jobs), acc="", status="")
        bars = {
            j.job_id: progress.add_task(job_label(j), total=epochs_of(j), acc="", status="")
            for j in jobs
        }
        unserved = UnservedQueues(store, jobs)
        while True:
            jobs = store.sweep_jobs(sweep_id)
            update(progress, overall, bars, jobs)
            for notice in unserved.notices(jobs):
                progress.console.print(notice)
            if on_poll is not None:
                on_poll(sweep_id)
            status = wait_for_end(store, sweep_id, poll)
            if status in DONE:
                update(progress, overall, bars, store.sweep_jobs(sweep_id))
                return status


class UnservedQueues:
    """Which queues the sweep's jobs wait on with no live worker taking them (the store's
    roster, db/roster.py), each said once: with no worker up, a watch would otherwise wait in
    silence. The roster is read only while some queued job's queue has not been said."""

    def __init__(self, store: Store, jobs: list[JobInfo], grace: float = NO_WORKER_GRACE):
        self.store = store
        self.queues = {j.job_id: queue_of(JobSpec.model_validate(j.params)) for j in jobs}
        self.since = time.monotonic() + grace
        self.said: set[str] = set()

    def notices(self, jobs: list[JobInfo]) -> list[str]:
        queued = [self.queues[j.job_id] for j in jobs if j.status == "queued"]
        waiting = Counter(queue for queue in queued if queue not in self.said)
        if not waiting or time.monotonic() < self.since:
            return []
        served = served_queues(self.store)
        unserved = sorted(queue for queue in waiting if queue not in served)
        self.said.update(unserved)
        return [
            f"no worker has checked in on queue {queue}, where {waiting[queue]} of this "
            f"sweep's jobs wait: start one with `{START_WORKER[queue]}`"
            for queue in unserved
        ]


def served_queues(store: Store) -> set[str]:
    """The queues the live workers on the roster take."""
    return {queue for worker in store.live_workers() for queue in worker.queues}


def wait_for_end(store: Store, sweep_id: int, seconds: float) -> str:
    """The sweep's status once it ended, or after `seconds`, reading the sweep's status
    alone, not every job's row."""
    deadline = time.monotonic() + seconds
    while True:
        status = store.sweep_status(sweep_id)
        if status in DONE or time.monotonic() >= deadline:
            return status
        time.sleep(min(END_POLL, max(0.0, deadline - time.monotonic())))


def update(
    progress: Progress,
    overall: TaskID,
    bars: dict[int, TaskID],
    jobs: list[JobInfo],
) -> None:
    now = datetime.now(UTC)
    for job in jobs:
        acc = f"acc {job.last_valid_acc:.4f}" if job.last_valid_acc is not None else ""
        progress.update(
            bars[job.job_id],
            completed=job.last_epoch or 0,
            acc=acc,
            status=status_text(job, now, with_worker=True),
        )
    done = sum(j.status in TERMINAL_JOB_STATUSES for j in jobs)
    progress.update(overall, completed=done, status=f"{done}/{len(jobs)} jobs ended")
    progress.refresh()  # the watch draws here only: rich's own refresh is off
