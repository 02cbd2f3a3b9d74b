"""Faults for tests, loaded by worker processes whose PYTHONPATH names this folder.

    PYTHONPATH=tests/integration/hooks MNISTGRID_TEST_KILL_LR=0.123 mnistgrid worker

- MNISTGRID_TEST_KILL_LR: the process that starts training a job with this lr kills itself
  with SIGKILL, as the kernel's out-of-memory killer would, every time.
- MNISTGRID_TEST_HANG_LR: the process that starts training a job with this lr hangs in that
  step for good, as a CUDA kernel or a C library that never returns would.
- MNISTGRID_TEST_KILL_AFTER_STOP=FILE: the process that has just ended jobs by the sweep's
  stopping rule kills itself, once (FILE marks that it did).
- MNISTGRID_TEST_KILL_AFTER_PROMOTE=FILE: the process whose epoch completed a rung (and
  promoted its survivors) kills itself before it sends them, once (FILE marks that it did).
- MNISTGRID_TEST_TERM_AT_EPOCH=EPOCH:FILE: the training process that reaches EPOCH asks its
  worker for a warm shutdown (SIGTERM, as `docker compose stop`) just before it records that
  epoch, once (FILE marks that it did): the worker hands its jobs back at that boundary.
- MNISTGRID_TEST_DB_OUTAGE=FILE: the first start of each job meets a database outage
  (DatabaseUnavailable, before anything is claimed or written), once per job: FILE lists the
  jobs it hit, one task per line. The task's retry then goes through the queue.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

_KILL_LR = os.environ.get("MNISTGRID_TEST_KILL_LR")
_HANG_LR = os.environ.get("MNISTGRID_TEST_HANG_LR")
_KILL_AFTER_STOP = os.environ.get("MNISTGRID_TEST_KILL_AFTER_STOP")
_TERM_AT_EPOCH = os.environ.get("MNISTGRID_TEST_TERM_AT_EPOCH")
_KILL_AFTER_PROMOTE = os.environ.get("MNISTGRID_TEST_KILL_AFTER_PROMOTE")
_DB_OUTAGE = os.environ.get("MNISTGRID_TEST_DB_OUTAGE")


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _hang() -> None:
    # Signals still arrive (a warm shutdown is asked for) but the step never ends.
    while True:
        time.sleep(3600)


if _KILL_LR or _HANG_LR:
    from mnistgrid.core import learner

    _train_epoch = learner.train_epoch

    def _train_epoch_with_fault(spec, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        if _KILL_LR and spec.lr == float(_KILL_LR):
            _die()
        if _HANG_LR and spec.lr == float(_HANG_LR):
            _hang()
        return _train_epoch(spec, *args, **kwargs)

    learner.train_epoch = _train_epoch_with_fault

if _KILL_AFTER_STOP:
    from workers.job_runner import EpochRecorder

    _record = EpochRecorder.__call__

    def _record_then_die(self, events):  # noqa: ANN001, ANN202
        stopped = _record(self, events)
        marker = Path(_KILL_AFTER_STOP)
        if stopped and not marker.exists():
            marker.write_text(",".join(str(self.claims[m].job_id) for m in stopped))
            _die()
        return stopped

    EpochRecorder.__call__ = _record_then_die

if _TERM_AT_EPOCH:
    from workers import tasks
    from workers.job_runner import EpochRecorder

    _term_epoch, _, _term_marker = _TERM_AT_EPOCH.partition(":")
    _record_epoch = EpochRecorder.__call__

    def _term_then_record(self, events):  # noqa: ANN001, ANN202
        marker = Path(_term_marker)
        if events and events[0].metrics.epoch == int(_term_epoch) and not marker.exists():
            marker.write_text(str(os.getpid()))
            os.kill(os.getppid(), signal.SIGTERM)
            deadline = time.monotonic() + 30
            while not tasks._shutting_down.is_set() and time.monotonic() < deadline:
                time.sleep(0.01)  # until the worker's main process has taken the signal
        return _record_epoch(self, events)

    EpochRecorder.__call__ = _term_then_record

if _KILL_AFTER_PROMOTE:
    from workers.job_runner import Outcome

    _add = Outcome.add

    def _add_then_die(self, recorded):  # noqa: ANN001, ANN202
        _add(self, recorded)
        marker = Path(_KILL_AFTER_PROMOTE)
        if recorded.promoted and not marker.exists():
            marker.write_text(",".join(str(job_id) for job_id in recorded.promoted))
            _die()

    Outcome.add = _add_then_die

if _DB_OUTAGE:
    from db.errors import DatabaseUnavailable
    from workers.job_runner import JobRunner

    _run = JobRunner.run

    def _run_after_an_outage(self, job_ids):  # noqa: ANN001, ANN202
        marker = Path(_DB_OUTAGE)
        hit = marker.read_text().split() if marker.exists() else []
        fresh = [str(job_id) for job_id in job_ids if str(job_id) not in hit]
        if fresh:
            with marker.open("a") as out:
                out.write(" ".join(fresh) + "\n")
            raise DatabaseUnavailable(f"test hook: the database is away for jobs {fresh}")
        return _run(self, job_ids)

    JobRunner.run = _run_after_an_outage
