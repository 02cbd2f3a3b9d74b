"""Publishing task messages. Messages carry job ids only; the database holds everything else."""

from __future__ import annotations

from collections.abc import Sequence

from celery import Celery
from kombu import Producer
from kombu.exceptions import OperationalError

from db.records import JobInfo
from mnistgrid.errors import MnistgridError
from orchestrator.plan import queue_of
from workers.celery_app import TRAIN_TASK
from workers.spec import JobSpec

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
