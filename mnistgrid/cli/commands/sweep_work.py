"""What the sweep commands (sweep_cmd.py) do once one runs: submit a grid, watch a sweep,
show, cancel and resume. Imported then, not with the commands: SQLAlchemy, Celery and rich are
most of a command's start, and a command's `--help` needs none of them.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from pathlib import Path

import click
from rich.console import Console

from db.records import SweepInfo
from db.store import Store
from mnistgrid.cli.commands.services import existing_store, settings_from
from mnistgrid.queue.app import make_celery
from mnistgrid.queue.publish import check_broker, send_again
from mnistgrid.queue.reconcile import Reconciler
from mnistgrid.report import report_paths
from mnistgrid.routing import REPORT_QUEUE
from mnistgrid.settings import Settings
from mnistgrid.web.links import REPORTS_PATH
from orchestrator.grid import load_grid
from orchestrator.progress import END_POLL, NO_WORKER_GRACE, served_queues
from orchestrator.progress import watch as watch_sweep
from orchestrator.submit import plan_sweep, submit_grid, sweep_name
from orchestrator.tables import jobs_table, sweeps_table, workers_table

# How long `--wait` waits for the worker's report after the sweep ends.
REPORT_PATIENCE = 120.0


def console() -> Console:
    # Piped output would otherwise be cut to 80 columns and wrap the job tables.
    probe = Console()
    return Console(soft_wrap=True, width=None if probe.is_terminal else 160)


def wait_for(store: Store, settings: Settings, sweep_id: int) -> None:
    """`follow` the sweep. A user who stops the wait (Ctrl-C) is told how to follow it again,
    and the exit is 130: the sweep goes on without them."""
    try:
        follow(store, settings, sweep_id)
    except KeyboardInterrupt:
        ref = store.get_sweep(sweep_id).ref
        click.echo(
            f"\nstopped waiting; sweep {ref} goes on without it: `mnistgrid watch {ref}` "
            f"follows it again, `mnistgrid cancel {ref}` stops it",
            err=True,
        )
        sys.exit(130)


def follow(store: Store, settings: Settings, sweep_id: int) -> None:
    """Watch until the sweep ends, healing it meanwhile; then wait for its report. Exit
    non-zero when any of its jobs failed, it was cancelled, or its report failed."""
    reconciler = Reconciler(
        store, make_celery(settings), settings.lease_seconds, settings.max_attempts
    )
    status = watch_sweep(store, sweep_id, console(), on_poll=reconciler)
    sweep = store.get_sweep(sweep_id)
    click.echo(
        f"sweep {sweep.name} (id {sweep_id}) {status}: "
        + ", ".join(f"{n} {s}" for s, n in sweep.counts.items() if n)
    )
    report_ok = True
    if status == "finished":
        sweep = await_report(store, sweep, lambda: reconciler(sweep_id))
        report_ok = echo_report(settings, sweep)
    if sweep.counts.get("failed", 0) or status == "cancelled" or not report_ok:
        sys.exit(1)


def await_report(
    store: Store,
    sweep: SweepInfo,
    on_poll: Callable[[], object] = lambda: None,
    patience: float = REPORT_PATIENCE,
    poll: float = END_POLL,
) -> SweepInfo:
    """The sweep once a worker has written its report or failed to, or `patience` ran out."""
    deadline = time.monotonic() + patience
    unserved_after = time.monotonic() + NO_WORKER_GRACE
    while sweep.report_status == "requested" and time.monotonic() < deadline:
        time.sleep(poll)
        on_poll()  # a lost report request is asked again, like a lost job (once a half lease)
        sweep = store.get_sweep(sweep.sweep_id)
        if unserved_after < time.monotonic() and REPORT_QUEUE not in served_queues(store):
            click.echo(
                f"no worker has checked in on queue {REPORT_QUEUE}, where this sweep's report "
                "waits: start one with `mnistgrid worker` on the machine whose reports folder "
                f"should hold it (not with --no-reports), or `mnistgrid report {sweep.ref}` "
                "writes it here"
            )
            unserved_after = math.inf  # said once
    return sweep


def echo_report(settings: Settings, sweep: SweepInfo) -> bool:
    """Say where the sweep's report is, or why there is none; False when it failed. A worker
    of the main host writes it into its MNISTGRID_REPORTS_DIR: on a worker host, that is
    another machine's folder."""
    html = report_paths(settings.reports_dir, sweep.name, sweep.sweep_id).html
    rewrite = f"`mnistgrid report {sweep.ref}` writes it here"
    if sweep.report_status == "failed":
        click.echo(f"report: failed on the worker: {sweep.report_error}; {rewrite}", err=True)
        return False
    if sweep.report_status != "written":
        click.echo(f"report: not written yet; {rewrite}")
    elif html.exists():
        click.echo(f"report: {html}")
    else:
        where = f"{html.parent.name}/{html.name}"
        click.echo(
            f"report: written on the main host (the machine whose workers take the report "
            f"queue), as {where} in its reports folder and {REPORTS_PATH}/{where} in its web "
            f"view; not in {html.parent} here; {rewrite} too"
        )
    return True


def submit(
    grid_file: Path, name: str | None, new: bool, wait: bool, services: dict[str, object]
) -> None:
    settings = settings_from(**services)
    grid = load_grid(grid_file)
    name = sweep_name(grid, name)
    jobs = plan_sweep(grid, settings)  # every grid error stops here, before any connection
    app = make_celery(settings)
    check_broker(app)  # before the store, whose opening creates and migrates the database
    store = Store(settings.database_url)
    done = submit_grid(grid, jobs, name, new, store, app)
    verb = "submitted" if done.created else "already submitted"
    click.echo(
        f"sweep {done.name} {verb}: id {done.sweep_id}, {done.n_jobs} jobs, "
        f"{done.n_tasks} tasks queued"
    )
    if wait:
        wait_for(store, settings, done.sweep_id)


def watch(sweep: str, services: dict[str, object]) -> None:
    settings = settings_from(**services)
    store = existing_store(settings)
    wait_for(store, settings, store.get_sweep(sweep).sweep_id)


def status(sweep: str | None, services: dict[str, object]) -> None:
    settings = settings_from(**services)
    store = existing_store(settings)
    if sweep is None:
        console().print(sweeps_table(store.list_sweeps()))
        console().print(workers_table(store.live_workers()))
        return
    info = store.get_sweep(sweep)
    title = f"sweep {info.name} (id {info.sweep_id}): {info.status}"
    jobs = store.sweep_jobs(info.sweep_id)
    console().print(jobs_table(title, jobs))


def sweeps(services: dict[str, object]) -> None:
    store = existing_store(settings_from(**services))
    console().print(sweeps_table(store.list_sweeps()))


def cancel(sweep: str, services: dict[str, object]) -> None:
    store = existing_store(settings_from(**services))
    info = store.get_sweep(sweep)
    waiting = store.cancel_sweep(info.sweep_id)
    after = store.get_sweep(info.sweep_id)  # a finished sweep stays finished
    if after.status != "cancelled":
        click.echo(f"sweep {after.name} has {after.status}: nothing to cancel")
        return
    running = after.counts.get("running", 0)
    click.echo(
        f"sweep {after.name} cancelled (waiting jobs cancelled: {waiting}; running jobs, "
        f"stopping at their next epoch: {running}); `mnistgrid resume {after.ref}` runs what "
        "is left"
    )


def resume(sweep: str, wait: bool, services: dict[str, object]) -> None:
    settings = settings_from(**services)
    store = existing_store(settings)
    info = store.get_sweep(sweep)
    n_tasks = requeue(store, settings, info.sweep_id)
    if n_tasks:
        click.echo(f"sweep {info.name}: {n_tasks} tasks queued again")
    else:
        status = store.get_sweep(info.sweep_id).status  # running: every job on a live lease
        click.echo(f"sweep {info.name} is {status}: nothing to queue again")
    if wait:
        wait_for(store, settings, info.sweep_id)


def requeue(store: Store, settings: Settings, sweep_id: int) -> int:
    app = make_celery(settings)
    check_broker(app)
    ids = store.requeue_unfinished(sweep_id)
    return send_again(store, app, sweep_id, ids)
