"""Keeping a job's lease alive while it trains, however long one epoch takes."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from types import TracebackType

from db.store import Store

log = logging.getLogger(__name__)


class LeaseKeeper:
    """Refreshes the heartbeat of `job_ids` every `interval` seconds from a daemon thread.

    The epoch callback also refreshes it, so this only matters for epochs longer than the
    lease; it dies with the process, which is what lets another worker take a killed job over.
    """

    def __init__(self, store: Store, job_ids: Sequence[int], worker: str, interval: float) -> None:
        self.store, self.job_ids, self.worker, self.interval = (
            store,
            list(job_ids),
            worker,
            interval,
        )
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="lease-keeper", daemon=True)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._stop.wait(self.interval):
            for job_id in self.job_ids:
                try:
                    self.store.heartbeat(job_id, self.worker)
                except Exception:  # noqa: BLE001 - a missed beat is retried at the next one
                    log.warning("heartbeat of job %s failed", job_id, exc_info=True)
