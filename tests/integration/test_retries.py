"""A task retried after a database or broker outage is sent again with no ETA, so the worker
that takes it holds one task, not two (mnistgrid/queue/retrying.py): the prefetch question of
docs/reliability.md, "Container-level faults".

    python -m pytest tests/integration/test_retries.py

Celery lets a worker that receives a message with an ETA (what a retry with a countdown is)
take one more task beside it. Two jobs each meet an outage on the only worker running; their
retries wait in the queue; a second worker starts while the first trains one of them: it
must get the other, not find the queue emptied by the first.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from db.store import Store
from tests.integration.services import (
    epochs_of,
    linear_grid,
    mnistgrid_env,
    private_redis_db,
    run_cli,
    start_worker,
    stop_process,
    wait_until,
)

pytestmark = pytest.mark.integration

HOOKS = Path(__file__).parent / "hooks"
EPOCHS = 40  # about 20 s a job: the second worker is up long before the first job ends


def test_retries_after_an_outage_go_to_the_idle_worker_not_behind_the_busy_one(
    mnist_dir, tmp_path
):
    outage = tmp_path / "outage"
    database = f"sqlite:///{tmp_path / 'store.db'}"
    with private_redis_db() as redis_url:
        env = mnistgrid_env(database_url=database, broker_url=redis_url, data_dir=str(mnist_dir))
        hooked = {**env, "PYTHONPATH": str(HOOKS), "MNISTGRID_TEST_DB_OUTAGE": str(outage)}
        grid = linear_grid(tmp_path, "outage", EPOCHS, "[0.3, 0.5]")
        assert run_cli(env, "submit", str(grid)).returncode == 0
        store = Store(database)
        jobs = store.sweep_jobs(store.get_sweep("outage").sweep_id)
        first = start_worker(hooked, "first", tmp_path / "first.log")
        second = None
        try:
            hit = lambda: outage.exists() and len(outage.read_text().split()) == 2  # noqa: E731
            wait_until(hit, 60, "both jobs to meet the outage")
            wait_until(lambda: any(store.epochs(j.job_id) for j in jobs), 60, "training")
            second = start_worker(hooked, "second", tmp_path / "second.log")
            finished = lambda: store.get_sweep("outage").status == "finished"  # noqa: E731
            wait_until(finished, 240, "the sweep to finish")
        finally:
            for process in (first, second):
                if process is not None:
                    stop_process(process)
    after = store.sweep_jobs(jobs[0].sweep_id)
    assert {job.status for job in after} == {"succeeded"}
    holders = {job.worker.rsplit(":", 1)[0] for job in after}  # host:pid of each job's process
    assert len(holders) == 2, (
        "both jobs ran on the first worker, one after the other, while the second was idle: "
        + (tmp_path / "first.log").read_text()[-3000:]
    )
    for job in after:
        assert job.attempts == 1  # the outage came before the claim
        assert epochs_of(store, job.job_id) == list(range(1, EPOCHS + 1))
    log = (tmp_path / "first.log").read_text()
    assert log.count("Retry in 0s") == 2, "sent again with no countdown, so no ETA"
