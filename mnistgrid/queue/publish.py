"""Publishing task messages. Messages carry job ids only; the database holds everything else.

mnistgrid submit examples/quick.toml   # one message per job, or per stack of jobs
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from celery import Celery
from kombu import Producer
from kombu.exceptions import OperationalError

from db.records import JobInfo
from db.store import Store
from mnistgrid.errors import MnistgridError
from mnistgrid.queue.routing import REPORT_TASK, TRAIN_TASK, queue_of
from mnistgrid.spec import JobSpec

HARD_LIMIT_MARGIN = 60.0


class BrokerUnreachable(MnistgridError):
    pass


def check_broker(app: Celery) -> None:
    """Fail before anything is written when the broker cannot be reached."""
    try:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=2, interval_start=0.2, interval_step=0.5)
    except (OperationalError, OSError) as error:
        raise BrokerUnreachable(f"cannot reach the broker: {error}") from None


def publish(
    app: Celery, job_ids: Sequence[int], queue: str, time_limit: float, producer: Producer
) -> None:
    """One task that trains `job_ids` (a stack when several) within `time_limit` seconds."""
    app.send_task(
        TRAIN_TASK,
        args=[list(job_ids)],
        queue=queue,
        soft_time_limit=time_limit,
        time_limit=time_limit + HARD_LIMIT_MARGIN,
        producer=producer,
    )


def queue_jobs(app: Celery, jobs: Sequence[JobInfo], time_limit: float) -> int:
    """Publish `jobs`, one task per group of jobs that share a `group_key`; returns tasks sent."""
    tasks: dict[str, list[JobInfo]] = {}
    for job in jobs:
        tasks.setdefault(job.group_key or f"job-{job.job_id}", []).append(job)
    with app.producer_or_acquire() as producer:  # one connection for every message
        for members in tasks.values():
            spec = JobSpec.model_validate(members[0].params)
            publish(app, [j.job_id for j in members], queue_of(spec), time_limit, producer)
    return len(tasks)


def send_again(store: Store, app: Celery, sweep_id: int, job_ids: Collection[int]) -> int:
    """Queue jobs of one sweep again (handed back, requeued, or lost), with the sweep's time
    limit; returns the tasks sent."""
    wanted = set(job_ids)
    if not wanted:
        return 0
    jobs = [job for job in store.sweep_jobs(sweep_id) if job.job_id in wanted]
    time_limit = store.get_sweep(sweep_id).grid["train"]["time_limit"]
    return queue_jobs(app, jobs, time_limit)


def request_report(app: Celery, sweep_id: int, queue: str) -> None:
    """Ask a worker listening on `queue` to write the sweep's report."""
    app.send_task(REPORT_TASK, args=[sweep_id], queue=queue)
