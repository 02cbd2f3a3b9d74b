"""The training task: thin on purpose. It takes job ids, and the job runner does the rest.

mnistgrid worker --queues cpu --concurrency 2
"""

from __future__ import annotations

import logging
import multiprocessing

from celery.signals import worker_process_init, worker_shutting_down

from db.engine import dispose_after_fork
from db.store import Store, shared_store
from mnistgrid.core.learner import use_threads
from mnistgrid.queue.publish import request_report, send_again
from mnistgrid.queue.retrying import TRANSIENT, RetryAtOnce
from mnistgrid.routing import TRAIN_TASK
from mnistgrid.settings import load_settings
from workers.celery_app import app
from workers.identity import worker_name
from workers.job_runner import JobRunner

log = logging.getLogger(__name__)

# Made before the pool forks, so the training processes see the main process set it.
_shutting_down = multiprocessing.Event()


def store() -> Store:
    return shared_store(load_settings().database_url)


@worker_shutting_down.connect
def _on_shutdown(**_: object) -> None:
    """A warm shutdown (SIGTERM): running jobs stop at their next epoch boundary and are
    handed back, so the worker exits within an epoch instead of a whole job."""
    _shutting_down.set()


@worker_process_init.connect
def _init_process(**_: object) -> None:
    dispose_after_fork()  # never reuse a connection inherited from the parent
    use_threads(load_settings().torch_threads)


@app.task(name=TRAIN_TASK, base=RetryAtOnce, autoretry_for=TRANSIENT)
def train_jobs(job_ids: list[int]) -> dict[str, object]:
    """Train the jobs `job_ids` (one job, or a group of same-shape jobs) of one sweep."""
    settings = load_settings()
    send = send_now if settings.share_stacks else None
    runner = JobRunner(store(), settings, worker_name(), _shutting_down.is_set, send=send)
    outcome = runner.run(job_ids)
    for sweep_id in outcome.sweeps_ended:
        # The report is a task of its own: a failure or a retry there never touches the jobs.
        request_report(app, sweep_id)
    # At once: handed back, for another worker to resume them from their checkpoints;
    # promoted past a rung, as the new stacks of the survivors.
    for why, again in (("handed back", outcome.handed_back), ("promoted", outcome.promoted)):
        if again:
            sweep_id = store().get_job(again[0]).sweep_id
            send_again(store(), app, sweep_id, again)
            log.info("%s jobs %s", why, again)
    return {
        "jobs": job_ids,
        "sweeps_ended": outcome.sweeps_ended,
        "handed_back": outcome.handed_back,
        # Flower shows the result: what the stopping rule did
        "stopped": outcome.stopped,
        "parked": outcome.parked,
        "promoted": outcome.promoted,
        "shared": outcome.shared,
    }


def send_now(sweep_id: int, job_ids: list[int]) -> None:
    """Send jobs handed back in the middle of this task (a stack sharing its members)."""
    send_again(store(), app, sweep_id, job_ids)
