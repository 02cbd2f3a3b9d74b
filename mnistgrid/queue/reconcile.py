"""Re-send what the broker lost. The database says which jobs are unfinished; a job is lost
when no live worker holds it and no message for it can still be waiting.

    mnistgrid watch SWEEP    # reconciles while it watches, as `submit --wait` does

Re-sending is always safe: a copy that finds its job held by a live worker, or finished, does
nothing. So the rules may err towards sending.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from celery import Celery
from kombu.exceptions import ChannelError
from kombu.exceptions import OperationalError as BrokerError

from db.store import Store
from mnistgrid.queue.publish import send_again
from mnistgrid.queue.routing import queue_of
from mnistgrid.spec import JobSpec

log = logging.getLogger(__name__)


def queue_depth(app: Celery, queues: set[str]) -> int:
    """Messages waiting in `queues` (delivered-but-unacked ones are not counted)."""
    with app.connection_for_read() as connection:
        channel = connection.default_channel
        return sum(declared_depth(channel, q) for q in queues)


def declared_depth(channel: Any, queue: str) -> int:  # a kombu or py-amqp channel
    try:
        return channel.queue_declare(queue=queue, passive=True).message_count
    except ChannelError:  # a restarted broker has forgotten the queue: nothing waits in it
        return 0


def reconcile(store: Store, app: Celery, sweep_id: int, lease_seconds: float) -> int:
    """Re-send the sweep's lost jobs; returns how many tasks were sent."""
    stale = set(store.stale_jobs(sweep_id, lease_seconds))
    if not stale:
        return 0
    jobs = [j for j in store.sweep_jobs(sweep_id) if j.job_id in stale]
    queues = {queue_of(JobSpec.model_validate(j.params)) for j in jobs}
    try:
        if any(j.status == "queued" for j in jobs) and queue_depth(app, queues) > 0:
            # Queued jobs may still have messages waiting: re-send only expired leases.
            jobs = [j for j in jobs if j.status == "running"]
        sent = send_again(store, app, sweep_id, [j.job_id for j in jobs])
    except (BrokerError, ChannelError, OSError) as error:
        log.warning("reconcile: broker unreachable (%s); trying again later", error)
        return 0
    if sent:
        log.info("reconcile: re-sent %d jobs of sweep %d in %d tasks", len(jobs), sweep_id, sent)
    return sent


class Reconciler:
    """Calls `reconcile` at most once per `every` seconds: the `on_poll` hook of `watch`."""

    def __init__(self, store: Store, app: Celery, lease_seconds: float) -> None:
        self.store, self.app, self.lease_seconds = store, app, lease_seconds
        self.next_at = time.monotonic() + lease_seconds

    def __call__(self, sweep_id: int) -> None:
        if time.monotonic() >= self.next_at:
            reconcile(self.store, self.app, sweep_id, self.lease_seconds)
            self.next_at = time.monotonic() + self.lease_seconds / 2
