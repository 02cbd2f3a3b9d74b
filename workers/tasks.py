"""The Celery task: thin on purpose. It takes job ids, and the job runner does the rest.

mnistgrid worker --queues cpu --concurrency 2
"""

from __future__ import annotations

import logging
import multiprocessing

from celery.signals import worker_process_init, worker_shutting_down
from kombu.exceptions import OperationalError as BrokerError
from sqlalchemy.exc import InterfaceError, OperationalError

from db.engine import dispose_after_fork
from db.errors import DatabaseUnavailable
from db.store import Store
from mnistgrid.settings import load_settings
from orchestrator.queueing import queue_jobs
from orchestrator.report.confusion import task_loader
from orchestrator.report.write import write_report
from workers.celery_app import TRAIN_TASK, app
from workers.job_runner import JobRunner, worker_name
from workers.learner import use_threads

log = logging.getLogger(__name__)

_store: Store | None = None


def store() -> Store:
    """One store per process, made after the fork so no connection is shared with the parent."""
    global _store
    if _store is None:
        _store = Store(load_settings().database_url)
    return _store


# Made before the pool forks, so the training processes see the main process set it.
_shutting_down = multiprocessing.Event()


@worker_shutting_down.connect
def _on_shutdown(**_: object) -> None:
    """A warm shutdown (SIGTERM): running jobs stop at their next epoch boundary and are
    handed back, so the worker exits within an epoch instead of a whole job."""
    _shutting_down.set()


@worker_process_init.connect
def _init_process(**_: object) -> None:
    global _store
    dispose_after_fork()  # never reuse a connection inherited from the parent
    _store = None
    use_threads(load_settings().torch_threads)


@app.task(
    name=TRAIN_TASK,
    autoretry_for=(OperationalError, InterfaceError, BrokerError, DatabaseUnavailable),
    retry_backoff=2,
    retry_backoff_max=60,
    max_retries=8,
)
def train_jobs(job_ids: list[int]) -> dict[str, object]:
    """Train the jobs `job_ids` (one job, or a group of same-shape jobs) of one sweep."""
    settings = load_settings()
    runner = JobRunner(store(), settings, worker_name(), _shutting_down.is_set)
    outcome = runner.run(job_ids)
    for sweep_id in outcome.sweeps_ended:
        write_sweep_report(sweep_id)
    if outcome.handed_back:
        send_again(outcome.handed_back)
    return {
        "jobs": job_ids,
        "sweeps_ended": outcome.sweeps_ended,
        "handed_back": outcome.handed_back,
    }


def send_again(job_ids: list[int]) -> None:
    """Queue handed-back jobs at once, for another worker to resume from their checkpoints."""
    jobs = [store().get_job(job_id) for job_id in job_ids]
    time_limit = store().get_sweep(jobs[0].sweep_id).grid["train"]["time_limit"]
    queue_jobs(app, jobs, time_limit)
    log.info("handed back jobs %s at shutdown", job_ids)


def write_sweep_report(sweep_id: int) -> None:
    """The sweep's end writes its report; a report failure must not fail the job."""
    settings = load_settings()
    try:
        paths = write_report(
            store(), sweep_id, settings.reports_dir, load_data=task_loader(settings)
        )
    except Exception:  # noqa: BLE001 - logged; `mnistgrid report` can write it again
        log.exception("report of sweep %s failed", sweep_id)
    else:
        log.info("sweep %s ended: report at %s", sweep_id, paths.html)
