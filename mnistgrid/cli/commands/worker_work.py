"""What `mnistgrid worker` (worker_cmd.py) does once it runs: start a Celery worker on its
queues, or one per GPU. Imported then, not with the command: Celery and SQLAlchemy are most of
its start, and its `--help` needs neither.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import warnings

from celery.exceptions import SecurityWarning

from db.store import Store
from mnistgrid.cli.commands.services import settings_from
from mnistgrid.core.machine import usable_cores
from mnistgrid.errors import BadInput
from mnistgrid.queue.app import filesystem_folder
from mnistgrid.routing import REPORT_QUEUE
from mnistgrid.settings import Settings


def start(
    queues: str,
    concurrency: int,
    gpus: str | None,
    threads: int | None,
    name: str | None,
    reports: bool,
    loglevel: str,
    quiet: bool,
    pool: str,
    **services: object,
) -> None:
    if concurrency < 1:
        raise BadInput(f"--concurrency: must be at least 1, got {concurrency}")
    settings = settings_from(**services)
    Store(settings.database_url)  # refuses to start against a database that is behind
    if gpus is not None:
        sys.exit(run_gpu_workers(parse_gpus(gpus), queues, loglevel, reports))
    share = threads or settings.torch_threads or max(1, usable_cores() // concurrency)
    os.environ["MNISTGRID_TORCH_THREADS"] = str(share)
    consumed = with_reports(queues) if reports else queues
    name = name or node_name(queues)
    run_celery_worker(settings, consumed, concurrency, pool, name, loglevel, quiet)


def with_reports(queues: str) -> str:
    """The queues to consume: these, and the report queue."""
    named = [queue.strip() for queue in queues.split(",") if queue.strip()]
    return ",".join(dict.fromkeys([*named, REPORT_QUEUE]))


def node_name(queues: str) -> str:
    """`cpu-<pid>@<host>`: named by the training queues, whether or not it writes reports."""
    return f"{queues.replace(',', '-')}-{os.getpid()}@%h"


def parse_gpus(text: str) -> list[str]:
    gpus = [part.strip() for part in text.split(",") if part.strip()]
    if not gpus or not all(g.isdigit() for g in gpus):
        raise BadInput(f"--gpus: expected GPU indexes such as 0,1, got {text!r}")
    return gpus


def run_celery_worker(
    settings: Settings,
    queues: str,
    concurrency: int,
    pool: str,
    name: str,
    loglevel: str,
    quiet: bool = False,
) -> None:
    # The worker's app reads the settings when imported: after the CLI's overrides are exported.
    from workers.celery_app import app

    argv = [
        "worker",
        "-Q",
        queues,
        "-c",
        str(concurrency),
        "-P",
        pool,
        "-E",
        "-l",
        loglevel,
        "-n",
        name,
    ]
    if filesystem_folder(settings.broker_url) is not None:
        # Gossip, mingle and heartbeats are broadcasts: files nobody removes in this broker.
        argv += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
    if quiet:
        # Root on one's own machine (a container, the demo) is a choice, not news per worker.
        warnings.filterwarnings("ignore", category=SecurityWarning)
        argv.insert(0, "--quiet")
    app.worker_main(argv)


def worker_argv(name: str, queues: str, loglevel: str, *options: str) -> list[str]:
    """The command line of one `mnistgrid worker` process with one training process."""
    return [
        sys.executable,
        "-m",
        "mnistgrid.cli",
        "worker",
        "-Q",
        queues,
        "-c",
        "1",
        "--name",
        name,
        "--loglevel",
        loglevel,
        *options,
    ]


def run_gpu_workers(gpus: list[str], queues: str, loglevel: str, reports: bool = True) -> int:
    """One solo-pool process per GPU, pinned before it starts: CUDA cannot be forked."""
    options = ["--pool", "solo", "--reports" if reports else "--no-reports"]
    children = [
        subprocess.Popen(
            worker_argv(f"gpu{gpu}-{os.getpid()}@%h", queues, loglevel, *options),
            env={**os.environ, "CUDA_VISIBLE_DEVICES": gpu, "MNISTGRID_TORCH_THREADS": "1"},
        )
        for gpu in gpus
    ]

    def forward(signum: int, _frame: object) -> None:
        for child in children:
            child.send_signal(signum)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, forward)
    return max(child.wait() for child in children)
