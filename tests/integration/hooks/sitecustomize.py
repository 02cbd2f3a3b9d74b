"""Faults for tests, loaded by worker processes whose PYTHONPATH names this folder.

    PYTHONPATH=tests/integration/hooks MNISTGRID_TEST_KILL_LR=0.123 mnistgrid worker

- MNISTGRID_TEST_KILL_LR: the process that starts training a job with this lr kills itself
  with SIGKILL, as the kernel's out-of-memory killer would, every time.
- MNISTGRID_TEST_KILL_AFTER_STOP=FILE: the process that has just ended jobs by the sweep's
  stopping rule kills itself, once (FILE marks that it did).
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

_KILL_LR = os.environ.get("MNISTGRID_TEST_KILL_LR")
_KILL_AFTER_STOP = os.environ.get("MNISTGRID_TEST_KILL_AFTER_STOP")


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


if _KILL_LR:
    from mnistgrid.core import learner

    _train_epoch = learner.train_epoch

    def _train_epoch_or_die(spec, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        if spec.lr == float(_KILL_LR):
            _die()
        return _train_epoch(spec, *args, **kwargs)

    learner.train_epoch = _train_epoch_or_die

if _KILL_AFTER_STOP:
    from workers.job_runner import EpochRecorder

    _stop_early = EpochRecorder.stop_early

    def _stop_early_then_die(self, events):  # noqa: ANN001, ANN202
        stopped = _stop_early(self, events)
        marker = Path(_KILL_AFTER_STOP)
        if stopped and not marker.exists():
            marker.write_text(",".join(str(self.claims[m].job_id) for m in stopped))
            _die()
        return stopped

    EpochRecorder.stop_early = _stop_early_then_die
