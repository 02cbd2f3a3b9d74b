"""Publishing task messages. Messages carry job ids only; the database holds everything else.

mnistgrid submit examples/quick.toml   # one message per job, or per stack of jobs
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence

from celery import Celery
from kombu import Producer
from kombu.exceptions import OperationalError
from pydantic import ValidationError

from db.records import JobInfo
from db.store import Store
from mnistgrid.core.sizes import member_work
from mnistgrid.errors import MnistgridError, describe_validation_error
from mnistgrid.routing import REPORT_QUEUE, REPORT_TASK, TRAIN_TASK, queue_of, task_title
from mnistgrid.spec import JobSpec

# The worker's lease keeper fails a job at its time limit in every pool (workers/lease.py);
# this hard limit, past it, is the prefork pool's backstop: it kills a child stuck in C code.
HARD_LIMIT_MARGIN = 60.0

log = logging.getLogger(__name__)


class BrokerUnreachable(MnistgridError):
    pass


def check_broker(app: Celery) -> None:
    """Fail before anything is written when the broker cannot be reached."""
    try:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=2, interval_start=0.2, interval_step=0.5)
    except (OperationalError, OSError) as error:
        raise BrokerUnreachable(f"cannot reach the broker: {error}") from None


# A job of a stack to publish, with its spec (validated once, for the order and the message).
Member = tuple[JobInfo, JobSpec]


def publish(
    app: Celery,
    stack: Sequence[Member],
    sweep_name: str,
    time_limit: float,
    producer: Producer,
) -> None:
    """One task that trains `stack` (one job, or several) within `time_limit` seconds."""
    specs = [spec for _, spec in stack]
    job_ids = [job.job_id for job, _ in stack]
    app.send_task(
        TRAIN_TASK,
        args=[job_ids],
        queue=queue_of(specs[0]),
        time_limit=time_limit + HARD_LIMIT_MARGIN,
        # The registered name still routes the task; Flower and the logs show this one.
        shadow=task_title(sweep_name, specs, job_ids),
        producer=producer,
    )


def queue_jobs(app: Celery, jobs: Sequence[JobInfo], sweep_name: str, time_limit: float) -> int:
    """Publish `jobs`, one task per group of jobs that share a `group_key`, the stack with the
    most training left first; returns tasks sent. The workers take the queue in order: a long
    stack taken last would train on alone at the end while the other workers idle (longest
    first, as a scheduler of jobs on machines does)."""
    tasks: dict[str, list[Member]] = {}
    for job in jobs:
        member = (job, JobSpec.model_validate(job.params))
        tasks.setdefault(job.group_key or f"job-{job.job_id}", []).append(member)
    with app.producer_or_acquire() as producer:  # one connection for every message
        for stack in sorted(tasks.values(), key=work_left, reverse=True):
            publish(app, stack, sweep_name, time_limit, producer)
    return len(tasks)


def work_left(stack: Sequence[Member]) -> int:
    """The stack's training still to do (`member_work`)."""
    return sum(member_work(spec, job.last_epoch or 0) for job, spec in stack)


def send_again(store: Store, app: Celery, sweep_id: int, job_ids: Collection[int]) -> int:
    """Queue jobs of one sweep again (handed back, requeued, or lost), with the sweep's time
    limit; returns the tasks sent. A job whose stored params no longer validate can never run:
    it fails with why, and the others go on."""
    wanted = set(job_ids)
    if not wanted:
        return 0
    jobs = [job for job in store.sweep_jobs(sweep_id) if job.job_id in wanted]
    runnable = [job for job in jobs if spec_or_fail(store, app, job) is not None]
    sweep = store.get_sweep(sweep_id)
    return queue_jobs(app, runnable, sweep.name, sweep.grid["train"]["time_limit"])


def spec_or_fail(store: Store, app: Celery, job: JobInfo) -> JobSpec | None:
    """The job's spec; None, once the (queued) job is failed, when its params do not validate
    (written by hand, or by another version of mnistgrid)."""
    try:
        return JobSpec.model_validate(job.params)
    except ValidationError as error:
        reason = f"its stored params no longer validate: {describe_validation_error(error)}"
    log.warning("job %s: %s; failing it", job.job_id, reason)
    done = store.fail_queued_job(job.job_id, reason)
    if done.sweep_finished and done.sweep_id is not None:
        request_report(app, done.sweep_id)
    return None


def request_report(app: Celery, sweep_id: int) -> None:
    """Ask for the sweep's report on the report queue, which only the workers of the machine
    that keeps the reports take, wherever the sweep's last job ended."""
    app.send_task(REPORT_TASK, args=[sweep_id], queue=REPORT_QUEUE)
