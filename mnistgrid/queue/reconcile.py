"""Heal what dead workers and lost messages left behind, from what the database says.

    mnistgrid worker    # every worker process runs it every half lease (workers/healer.py)
    mnistgrid watch S   # ... and so do the watchers, for their sweep

Three things can be lost, and each is taken over atomically in the database before anything
is sent, so that of many reconcilers running at once exactly one sends it:
- a running job whose lease expired (its worker died): requeued and sent again, or failed once
  it has been started MNISTGRID_MAX_ATTEMPTS times;
- a queued job whose message is gone (Redis restarted without its append-only file, a purged
  queue): sent again once it has waited a lease and its queue is empty, so no message for it
  can still be waiting;
- the report a finished sweep asked for (its worker died before sending the request, or while
  writing): asked for again under the same rule.
A copy that arrives anyway finds its job held or finished and does nothing.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from celery import Celery
from kombu.exceptions import ChannelError
from kombu.exceptions import OperationalError as BrokerError

from db.records import LostJob
from db.store import Store
from mnistgrid.queue.publish import request_report, send_again, spec_or_fail
from mnistgrid.routing import REPORT_QUEUE, queue_of

log = logging.getLogger(__name__)
BROKER_ERRORS = (BrokerError, ChannelError, OSError)


@dataclass
class Reconciled:
    """What one reconcile did."""

    lost: list[LostJob] = field(default_factory=list)
    resent: list[int] = field(default_factory=list)  # queued jobs whose message was gone
    reports: list[int] = field(default_factory=list)  # sweeps whose report was asked again
    tasks: int = 0


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


def reconcile(
    store: Store,
    app: Celery,
    lease_seconds: float,
    max_attempts: int,
    sweep_id: int | None = None,
) -> Reconciled:
    """Heal one sweep, or every sweep when `sweep_id` is None. A broker that cannot be reached
    stops it (logged); what was taken over then is sent by a later reconcile. `lease_seconds`
    is this reader's patience with queued messages and reports; leases end by their rows."""
    done = Reconciled()
    try:
        take_over_lost(store, app, max_attempts, sweep_id, done)
        resend_lost_messages(store, app, lease_seconds, sweep_id, done)
        ask_lost_reports(store, app, lease_seconds, sweep_id, done)
    except BROKER_ERRORS as error:
        log.warning("reconcile: broker unreachable (%s); trying again later", error)
    return done


def take_over_lost(
    store: Store, app: Celery, max_attempts: int, sweep_id: int | None, done: Reconciled
) -> None:
    taken = store.take_over_lost_jobs(max_attempts, sweep_id)
    done.lost += taken.lost
    for job in taken.lost:
        verdict = "sending it again" if job.requeued else "failed: out of attempts"
        log.warning("job %s lost its worker %s: %s", job.job_id, job.worker, verdict)
    for owner, job_ids in taken.requeued_by_sweep().items():
        done.tasks += send_again(store, app, owner, job_ids)
    for ended in taken.sweeps_ended:
        request_report(app, ended)


def resend_lost_messages(
    store: Store, app: Celery, lease_seconds: float, sweep_id: int | None, done: Reconciled
) -> None:
    waiting = store.queued_jobs_sent_before(lease_seconds, sweep_id)
    queues = {
        job.job_id: queue_of(spec) for job in waiting if (spec := spec_or_fail(store, app, job))
    }
    if not queues:
        return
    empty = empty_queues(app, set(queues.values()))
    candidates = [job_id for job_id, queue in queues.items() if queue in empty]
    marked = set(store.mark_sent_again(candidates, lease_seconds))
    by_sweep: dict[int, list[int]] = {}
    for job in waiting:
        if job.job_id in marked:
            by_sweep.setdefault(job.sweep_id, []).append(job.job_id)
    for owner, job_ids in by_sweep.items():
        log.warning("jobs %s of sweep %s lost their messages: sending them again", job_ids, owner)
        done.resent += job_ids
        done.tasks += send_again(store, app, owner, job_ids)


def ask_lost_reports(
    store: Store, app: Celery, lease_seconds: float, sweep_id: int | None, done: Reconciled
) -> None:
    stale = store.reports_requested_before(lease_seconds, sweep_id)
    for owner in stale:
        if empty_queues(app, {REPORT_QUEUE}) and store.mark_report_requested(
            owner, older_than=lease_seconds
        ):
            log.warning("the report of sweep %s was never written: asking again", owner)
            request_report(app, owner)
            done.reports.append(owner)


def empty_queues(app: Celery, queues: set[str]) -> set[str]:
    return {queue for queue in queues if queue_depth(app, {queue}) == 0}


class Reconciler:
    """Runs `reconcile` at most once per half lease: the `on_poll` hook of `watch` and of the
    wait for a report (a worker's healer runs its own loop, workers/healer.py)."""

    def __init__(self, store: Store, app: Celery, lease_seconds: float, max_attempts: int) -> None:
        self.store, self.app = store, app
        self.lease_seconds, self.max_attempts = lease_seconds, max_attempts
        self.next_at = time.monotonic() + lease_seconds / 2

    def __call__(self, sweep_id: int | None = None) -> Reconciled | None:
        if time.monotonic() < self.next_at:
            return None
        self.next_at = time.monotonic() + self.lease_seconds / 2
        return reconcile(self.store, self.app, self.lease_seconds, self.max_attempts, sweep_id)
