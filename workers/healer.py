"""The healer: every worker process heals the sweeps, so nobody has to be watching them.

    mnistgrid worker --queues cpu   # starts it in the worker's main process

Every half lease it runs the reconcile over every sweep (mnistgrid/queue/reconcile.py): jobs of
dead workers go back to the queue, lost messages are sent again, lost report requests asked
again. It is a thread of the worker's main process, not of the pool's children, so it runs
whether the worker trains or idles, and it dies with the process it serves.
"""

from __future__ import annotations

import logging
import random
import threading

from celery import Celery, bootsteps

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
        self._thread = threading.Thread(
            target=heal_until, args=(app, load_settings(), self._stop), name="healer", daemon=True
        )
        self._thread.start()

    def stop(self, worker: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)


def heal_until(app: Celery, settings: Settings, stop: threading.Event) -> None:
    """Reconcile every half lease until `stop` is set. The first pass comes soon after the
    start (a worker that replaces a dead one heals at once); jitter keeps many workers from
    reconciling in step."""
    interval = settings.lease_seconds / 2
    wait = random.uniform(0.5, 2.0)
    while not stop.wait(wait):
        try:
            store = shared_store(settings.database_url)
            reconcile(store, app, settings.lease_seconds, settings.max_attempts)
        except Exception:  # noqa: BLE001 - the database may be down: heal at the next pass
            log.warning(
                "healer: reconcile failed; trying again in %.0f s", interval, exc_info=True
            )
        wait = interval * random.uniform(0.8, 1.0)
