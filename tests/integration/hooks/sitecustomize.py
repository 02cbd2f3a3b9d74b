"""A fault for tests, loaded by worker processes whose PYTHONPATH names this folder: the
process that starts training a job whose lr is MNISTGRID_TEST_KILL_LR kills itself with
SIGKILL, as the kernel's out-of-memory killer would, every time.

    PYTHONPATH=tests/integration/hooks MNISTGRID_TEST_KILL_LR=0.123 mnistgrid worker
"""

from __future__ import annotations

import os
import signal

_KILL_LR = os.environ.get("MNISTGRID_TEST_KILL_LR")

if _KILL_LR:
    from mnistgrid.core import learner

    _train_epoch = learner.train_epoch

    def _train_epoch_or_die(spec, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        if spec.lr == float(_KILL_LR):
            os.kill(os.getpid(), signal.SIGKILL)
        return _train_epoch(spec, *args, **kwargs)

    learner.train_epoch = _train_epoch_or_die
