"""What `mnistgrid demo` (demo_cmd.py) does once it runs: a store, a broker and workers of its
own, a grid through them, and its report. Imported then, not with the command: torch,
SQLAlchemy, Celery and rich are most of its start, and its `--help` needs none of them.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import click

from db.records import NewJob, SweepInfo
from db.store import Store
from mnistgrid.cli.commands.sweep_work import await_report, console, requeue
from mnistgrid.cli.commands.worker_work import worker_argv
from mnistgrid.core.machine import usable_cores
from mnistgrid.data.datasets import task_loader
from mnistgrid.queue.app import make_celery
from mnistgrid.queue.reconcile import Reconciler
from mnistgrid.report import ReportPaths, report_paths
from mnistgrid.report.write import write_report
from mnistgrid.settings import Settings, load_settings
from orchestrator.grid import Grid, load_grid
from orchestrator.progress import watch
from orchestrator.submit import Submitted, plan_sweep, submit_grid
from orchestrator.tables import jobs_table


def demo_settings(folder: Path, data_dir: Path | None) -> Settings:
    return load_settings().with_overrides(
        database_url=f"sqlite:///{folder / 'mnistgrid.db'}",
        broker_url=f"filesystem://{folder / 'broker'}",
        reports_dir=folder / "reports",
        data_dir=data_dir,
    )


def start_workers(settings: Settings, n: int) -> list[subprocess.Popen]:
    threads = str(max(1, usable_cores() // n))
    env = {**os.environ, **settings.as_environment()}
    return [
        subprocess.Popen(
            worker_argv(f"demo{i}@%h", "cpu", "warning", "--threads", threads, "--quiet"),
            env=env,
        )
        for i in range(n)
    ]


def stop(workers: list[subprocess.Popen]) -> None:
    for worker in workers:
        worker.send_signal(signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()


def demo(folder: Path, grid_file: Path, n_workers: int, data_dir: Path | None) -> None:
    folder = folder.resolve()
    settings = demo_settings(folder, data_dir)
    grid = load_grid(grid_file)
    jobs = plan_sweep(grid, settings)
    folder.mkdir(parents=True, exist_ok=True)
    store = Store(settings.database_url)  # a new SQLite file is migrated here
    try:
        done, sweep = trained(store, settings, grid, jobs, n_workers)
    except KeyboardInterrupt:
        click.echo(
            f"\ndemo stopped; what it trained is kept in {folder}: the same command again "
            "goes on from there",
            err=True,
        )
        sys.exit(130)
    paths = report_paths(settings.reports_dir, done.name, done.sweep_id)
    if sweep.report_status != "written":  # a worker failed to write it, or an earlier demo
        write_report(store, done.sweep_id, settings.reports_dir, load_data=task_loader(settings))
    table = jobs_table(f"sweep {done.name}", store.sweep_jobs(done.sweep_id))
    console().print(table)
    print_where(paths, done.sweep_id, folder)


def trained(
    store: Store, settings: Settings, grid: Grid, jobs: list[NewJob], n_workers: int
) -> tuple[Submitted, SweepInfo]:
    """The grid's sweep trained by `n_workers` local workers, stopped whatever happens, and
    the sweep once its report is written (or failed, or waited for long enough)."""
    app = make_celery(settings)
    workers = start_workers(settings, n_workers)
    try:
        done = submit_grid(grid, jobs, None, False, store, app)
        if not done.created and store.get_sweep(done.sweep_id).status != "finished":
            requeue(store, settings, done.sweep_id)  # an earlier demo was interrupted
        reconciler = Reconciler(store, app, settings.lease_seconds, settings.max_attempts)
        watch(store, done.sweep_id, console(), on_poll=reconciler)
        sweep = await_report(
            store, store.get_sweep(done.sweep_id), lambda: reconciler(done.sweep_id)
        )
        return done, sweep
    finally:
        stop(workers)


def print_where(paths: ReportPaths, sweep_id: int, folder: Path) -> None:
    """Where the report and the database are, and lines that query it as typed here."""
    here = Path.cwd()
    db_file = folder / "mnistgrid.db"
    url = f"sqlite:///{db_file}"
    mnistgrid = command("mnistgrid", Path(sys.executable).parent / "mnistgrid", here)
    python = command("python3", Path(sys.executable), here)
    click.echo(
        f"\nreport:   {paths.html}\n          {paths.markdown}\n"
        f"database: {db_file}\n\nquery it:\n"
        f"  {mnistgrid} status {sweep_id} --database-url {url}\n"
        f"  {mnistgrid} export {sweep_id} --database-url {url} --out jobs.csv\n"
        f"  {python} -c \"import sqlite3; print(sqlite3.connect('{rel(db_file, here)}')"
        ".execute('SELECT model, loss, lr, best_acc FROM jobs ORDER BY best_acc DESC')"
        '.fetchall())"'
    )


def command(name: str, installed: Path, here: Path) -> str:
    """How to type `name` here: the bare name when the shell finds this very one (an active
    venv), else its path (`make demo` runs .venv/bin/mnistgrid with no venv active)."""
    found = shutil.which(name)
    if found is not None and Path(found).resolve() == installed.resolve():
        return name
    return rel(installed, here) if installed.exists() else name


def rel(path: Path, base: Path) -> str:
    try:
        return str(path.relative_to(base))
    except ValueError:
        return str(path)
