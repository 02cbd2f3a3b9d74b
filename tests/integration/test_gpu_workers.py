"""`mnistgrid worker --gpus`: one solo process per GPU, each pinned before it starts. The process
topology is checked here without a GPU; training on one needs a machine that has it."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from mnistgrid.queue.app import make_celery
from mnistgrid.settings import load_settings
from tests.integration.services import mnistgrid_env, private_redis_db, wait_until

pytestmark = pytest.mark.integration


def test_one_pinned_solo_process_per_gpu(tmp_path):
    with private_redis_db() as redis_url:
        env = mnistgrid_env(database_url=f"sqlite:///{tmp_path / 'gpu.db'}", broker_url=redis_url)
        parent = subprocess.Popen(
            [sys.executable, "-m", "mnistgrid.cli", "worker", "-Q", "gpu", "--gpus", "0,1"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        app = make_celery(load_settings().with_overrides(broker_url=redis_url))
        try:
            names: list[str] = []

            def both_answer() -> bool:
                names[:] = sorted(name for reply in app.control.ping(timeout=1) for name in reply)
                return len(names) == 2

            wait_until(both_answer, 60, "two GPU worker processes")
            assert [n.split("-")[0] for n in names] == ["gpu0", "gpu1"]
            queues = app.control.inspect(timeout=2).active_queues()
            # each takes the report queue too, as every `mnistgrid worker` does unless --no-reports
            assert {q["name"] for qs in queues.values() for q in qs} == {"gpu", "report"}
            stats = app.control.inspect(timeout=2).stats()
            pools = {s["pool"]["implementation"] for s in stats.values()}
            assert pools == {"celery.concurrency.solo:TaskPool"}, pools
            pinned = {name.split("-")[0]: visible_devices(stats[name]["pid"]) for name in names}
            assert pinned == {"gpu0": "0", "gpu1": "1"}
        finally:
            parent.send_signal(signal.SIGTERM)  # forwarded to both children
            output = parent.communicate(timeout=60)[0]
        assert parent.returncode == 0, output


def visible_devices(pid: int) -> str | None:
    """CUDA_VISIBLE_DEVICES in the environment the process started with."""
    environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    found = [v.split(b"=", 1)[1] for v in environ if v.startswith(b"CUDA_VISIBLE_DEVICES=")]
    return found[0].decode() if found else None
