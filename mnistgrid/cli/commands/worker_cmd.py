"""`mnistgrid worker`: a Celery worker that trains jobs from the `cpu` or `gpu` queue.

mnistgrid worker --queues cpu --concurrency 2
mnistgrid worker --queues gpu --gpus 0,1

Click alone here; starting the worker is in worker_work.py, imported when the command runs.
"""

from __future__ import annotations

import click

from mnistgrid.cli.collector import work_beside
from mnistgrid.cli.commands.options import service_options

work = work_beside(__name__)


@click.command()
@click.option("--queues", "-Q", default="cpu", show_default=True, help="cpu, gpu or cpu,gpu")
@click.option(
    "--concurrency",
    "-c",
    type=int,
    default=1,
    show_default=True,
    help="training processes (CPU workers)",
)
@click.option("--gpus", default=None, help="GPU indexes such as 0,1: one process per GPU")
@click.option(
    "--threads",
    type=int,
    default=None,
    help="torch threads per process [env MNISTGRID_TORCH_THREADS; default: cores / concurrency]",
)
@click.option("--name", default=None, help="worker node name [default: <queues>-<pid>@<host>]")
@click.option(
    "--reports/--no-reports",
    default=True,
    show_default=True,
    help="also write the reports of finished sweeps (the report queue) into "
    "MNISTGRID_REPORTS_DIR; --no-reports on worker hosts, so they land on the main host",
)
@click.option("--loglevel", default="info", show_default=True)
@click.option(
    "--quiet",
    is_flag=True,
    help="no start-up banner, and no warning for running as root (the demo's workers)",
)
# GPU processes run solo: the task runs in the process that owns the CUDA context.
@click.option("--pool", type=click.Choice(["prefork", "solo"]), default="prefork", hidden=True)
@service_options
def worker(**options: object) -> None:
    """Start a worker that trains the jobs it takes off the queue."""
    work().start(**options)
