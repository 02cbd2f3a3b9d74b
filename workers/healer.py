"""The healer: every worker process heals the sweeps, so nobody has to be watching them.

    mnistgrid worker --queues cpu   # starts it in the worker's main process

Every half lease it runs the reconcile over every sweep (mnistgrid/queue/reconcile.py): jobs of
dead workers go back to the queue, lost messages are sent again, lost report requests asked
again. Before each pass, and once at its start, it checks the worker in on the store's roster
(db/roster.py), which it leaves at a warm shutdown. It is a thread of the worker's main process,
not of the pool's children, so it runs whether the worker trains or idles, and it dies with the
process it serves. Its store work holds `no_fork()` (db/forking.py): the pool forks a
replacement for a child that died from this same process, and a child forked while this thread
is inside SQLite would hang at its first query.
"""

from __future__ import annotations

import logging
import random
import threading

from celery import Celery, bootsteps

from db.forking import no_fork
from db.records import WorkerInfo
from db.store import shared_store
from mnistgrid.queue.reconcile import reconcile
from mnistgrid.settings import Settings, load_settings

log = logging.getLogger(__name__)


class Healer(bootsteps.StartStopStep):
    """A worker bootstep: starts the healer thread once the pool has forked its children."""

    requires = {"celery.worker.components:Pool"}

    def __init__(self, worker: object, **kwargs: object) -> None:
        super().__init__(worker, **kwargs)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, worker: object) -> None:
        app: Celery = worker.app  # type: ignore[attr-defined]
        self._seat = seat_of(worker)
        self._settings = load_settings()
        self._thread = threading.Thread(
            target=heal_until,
            args=(app, self._settings, self._seat, self._stop),
            name="healer",
            daemon=True,
        )
        self._thread.start()

    def stop(self, worker: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            check_out(self._settings, self._seat)


def seat_of(worker: object) -> WorkerInfo:
    """The worker as the roster lists it: its node name, the queues it consumes, and how many
    stacks it trains at once: its pool's limit, not --concurrency (a solo pool, a GPU
    worker's, trains one)."""
    pool_limit = getattr(worker.pool, "limit", None)  # type: ignore[attr-defined]
    return WorkerInfo(
        worker.hostname,  # type: ignore[attr-defined]
        tuple(sorted(worker.app.amqp.queues.consume_from)),  # type: ignore[attr-defined]
        pool_limit or worker.concurrency,  # type: ignore[attr-defined]
    )


def heal_until(app: Celery, settings: Settings, seat: WorkerInfo, stop: threading.Event) -> None:
    """Check in, then reconcile, every half lease until `stop` is set. The first check-in is
    at once, the first reconcile soon after the start (a worker that replaces a dead one heals
    at once); jitter keeps many workers from reconciling in step."""
    interval = settings.lease_seconds / 2
    check_in(settings, seat)
    wait = random.uniform(0.5, 2.0)
    while not stop.wait(wait):
        check_in(settings, seat)
        try:
            with no_fork():
                store = shared_store(settings.database_url)
                reconcile(store, app, settings.lease_seconds, settings.max_attempts)
        except Exception:  # noqa: BLE001 - the database may be down: heal at the next pass
            log.warning(
                "healer: reconcile failed; trying again in %.0f s", interval, exc_info=True
            )
        wait = interval * random.uniform(0.8, 1.0)


def check_in(settings: Settings, seat: WorkerInfo) -> None:
    """On the roster for two leases: the next check-in comes within half of one after a
    reconcile, and a slow reconcile must not take a live worker off. A killed worker stays on
    that long, which at worst splits a rung's survivors into a part too many."""
    try:
        with no_fork():
            shared_store(settings.database_url).check_in_worker(
                seat.name, seat.queues, seat.slots, 2 * settings.lease_seconds
            )
    except Exception:  # noqa: BLE001 - off the roster, rungs keep their stacks whole
        log.warning("healer: could not check in on the roster", exc_info=True)


def check_out(settings: Settings, seat: WorkerInfo) -> None:
    try:
        with no_fork():
            shared_store(settings.database_url).check_out_worker(seat.name)
    except Exception:  # noqa: BLE001 - the row runs out by itself within two leases
        log.warning("healer: could not check out of the roster", exc_info=True)
