"""The lease keeper: a task's claimed jobs stay this worker's from the claim to their end, and
no longer than the grid's time limit."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from types import TracebackType

from db.store import Store

log = logging.getLogger(__name__)


class LeaseKeeper:
    """Renews the leases of `job_ids` every quarter lease from a daemon thread, however long the
    data takes to load, an epoch takes, or the jobs wait for their turn in the task.

    At `time_limit` seconds after it starts it fails the jobs it still holds ("time limit ...
    exceeded") and stops renewing, in every pool: Celery's solo pool (GPU workers) enforces no
    time limit, and a step that hangs in CUDA or a C library never returns to be stopped. The
    training loop learns at its next epoch boundary, if it reaches one. It dies with its
    process, which is what lets another worker take a killed worker's jobs over.
    """

    def __init__(
        self,
        store: Store,
        job_ids: Sequence[int],
        worker: str,
        lease_seconds: float,
        time_limit: float,
    ) -> None:
        self.store, self.job_ids, self.worker = store, list(job_ids), worker
        self.lease_seconds, self.time_limit = lease_seconds, time_limit
        self.sweeps_ended: list[int] = []  # by jobs this keeper failed at the time limit
        self._timed_out = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._keep, name="lease-keeper", daemon=True)

    @property
    def timed_out(self) -> bool:
        return self._timed_out.is_set()

    def __enter__(self) -> LeaseKeeper:
        self._deadline = time.monotonic() + self.time_limit
        self._thread.start()
        return self

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()

    def _keep(self) -> None:
        interval = self.lease_seconds / 4
        while not self._stop.wait(min(interval, max(0.0, self._deadline - time.monotonic()))):
            if time.monotonic() >= self._deadline:
                self._fail_on_time()
                return
            try:
                self.store.renew_leases(self.job_ids, self.worker, self.lease_seconds)
            except Exception:  # noqa: BLE001 - a missed beat is retried at the next one
                log.warning("lease renewal of jobs %s failed", self.job_ids, exc_info=True)

    def _fail_on_time(self) -> None:
        self._timed_out.set()
        error = (
            f"time limit of {self.time_limit:g} s exceeded (train.time_limit in the grid "
            "file): the job was failed and its lease released"
        )
        try:
            self.sweeps_ended += self.store.finish_jobs(
                self.job_ids, "failed", worker=self.worker, error=error
            )
        except Exception:  # noqa: BLE001 - their leases run out instead; they are taken over
            log.warning("could not fail jobs %s at their time limit", self.job_ids, exc_info=True)
        log.error("jobs %s ran past their time limit of %g s", self.job_ids, self.time_limit)
