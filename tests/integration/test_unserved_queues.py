"""A watch whose sweep waits on a queue no worker takes says so, once, with what to start;
the roster (db/roster.py) tells it which queues the live workers take.

    python -m pytest tests/integration/test_unserved_queues.py
"""

from __future__ import annotations

from pathlib import Path

import pytest

from db.migrate import upgrade
from db.store import Store
from mnistgrid.spec import JobSpec
from orchestrator.plan import new_job
from orchestrator.progress import NO_WORKER_GRACE, UnservedQueues
from tests.integration.services import (
    cli_running,
    linear_grid,
    sqlite_env,
    wait_until,
    workers,
)

pytestmark = pytest.mark.integration

NOTICE = "no worker has checked in on queue"


@pytest.fixture
def store(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    upgrade(url)
    with Store(url) as opened:
        yield opened


def test_each_unserved_queue_is_named_once_with_the_worker_to_start(store):
    specs = [JobSpec(model="linear", lr=lr) for lr in (0.1, 1.0)]
    specs.append(JobSpec(model="linear", device="cuda"))
    sweep = store.create_sweep("queues", {}, "hash", [new_job(s) for s in specs])
    jobs = store.sweep_jobs(sweep.sweep_id)
    store.check_in_worker("gpu-1@host", ["gpu", "report"], 1, 60)

    assert UnservedQueues(store, jobs).notices(jobs) == []  # within the grace
    unserved = UnservedQueues(store, jobs, grace=0)
    (cpu,) = unserved.notices(jobs)
    assert cpu == (
        f"{NOTICE} cpu, where 2 of this sweep's jobs wait: "
        "start one with `mnistgrid worker --queues cpu`"
    )
    assert unserved.notices(jobs) == []  # said once

    store.check_out_worker("gpu-1@host")
    (gpu,) = unserved.notices(jobs)
    assert gpu.startswith(f"{NOTICE} gpu, where 1 of") and "--queues gpu --gpus 0" in gpu


def test_a_queue_whose_jobs_are_all_taken_is_not_named(store):
    sweep = store.create_sweep("taken", {}, "hash", [new_job(JobSpec(model="linear"))])
    jobs = store.sweep_jobs(sweep.sweep_id)
    store.claim_jobs([jobs[0].job_id], "cpu-1@host", lease_seconds=60)
    assert UnservedQueues(store, jobs, grace=0).notices(store.sweep_jobs(sweep.sweep_id)) == []


def test_submit_wait_with_no_worker_says_what_to_start_and_ends_when_one_comes(
    tmp_path, mnist_dir
):
    with sqlite_env(tmp_path, mnist_dir, "unserved") as env:
        grid = linear_grid(tmp_path, "unserved", 1)
        with cli_running(env, "submit", str(grid), "--wait") as (waiting, lines):
            wait_until(
                lambda: any(NOTICE in line for line in lines),
                NO_WORKER_GRACE + 60,
                "the watch to say that no worker takes cpu",
            )
            with workers(env, tmp_path, count=1):
                assert waiting.wait(timeout=180) == 0, "".join(lines)
    output = "".join(lines)
    assert output.count(NOTICE) == 1, output
    assert "start one with `mnistgrid worker --queues cpu`" in output
    assert "sweep unserved (id 1) finished: 1 succeeded" in output, output
