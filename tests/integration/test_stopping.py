"""Early stopping on real workers: an ASHA sweep on real Redis with two workers, and a worker
killed right after a stop decision.

    python -m pytest tests/integration/test_stopping.py -s
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from db.store import Store
from mnistgrid.core.stopping import asha_rungs
from tests.integration.services import (
    epochs_of,
    mnistgrid_env,
    private_redis_db,
    run_cli,
    start_worker,
    stop_process,
    wait_until,
    workers,
)

pytestmark = pytest.mark.integration

LEASE = 3.0
HOOKS = Path(__file__).parent / "hooks"
EPOCHS = 6

GRID = f"""
name = "asha"
[train]
epochs = {EPOCHS}
[stop]
rule = "asha"
grace = 1
reduction = 2
[grid]
model = ["baseline", "linear", "mlp"]
loss = ["mnist_loss", "cross_entropy"]
lr = [0.03, 0.3, 1.0, 3.0]
hidden = 16
batch_size = 512
"""  # 2 baselines, and 2 models x 2 losses x 4 lrs = 16 jobs in 4 stacks; rungs at epochs 1, 2, 4


@pytest.fixture
def env(mnist_dir, tmp_path):
    with private_redis_db() as redis_url:
        yield mnistgrid_env(
            database_url=f"sqlite:///{tmp_path / 'stop.db'}",
            broker_url=redis_url,
            data_dir=str(mnist_dir),
            lease_seconds=str(LEASE),
            reports_dir=str(tmp_path / "reports"),
        )


def test_an_asha_sweep_stops_jobs_at_rungs_and_keeps_each_familys_best(env, tmp_path):
    grid = tmp_path / "asha.toml"
    grid.write_text(GRID)
    with workers(env, tmp_path):
        done = run_cli(env, "submit", str(grid), "--wait", timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    store = Store(env["MNISTGRID_DATABASE_URL"])
    everything = store.sweep_jobs(store.get_sweep("asha").sweep_id)
    baselines = [job for job in everything if job.model == "baseline"]
    assert [job.status for job in baselines] == ["succeeded"] * 2  # nothing to stop there
    jobs = [job for job in everything if job.model != "baseline"]
    stopped = [job for job in jobs if job.status == "stopped"]
    finished = [job for job in jobs if job.status == "succeeded"]
    assert stopped and finished and len(stopped) + len(finished) == len(jobs)
    rungs = asha_rungs(1, 2, EPOCHS)
    for job in stopped:
        trained = epochs_of(store, job.job_id)
        assert trained == list(range(1, trained[-1] + 1)) and trained[-1] in rungs
        assert store.checkpoint(job.job_id).epoch == trained[-1]  # its weights are kept
        assert job.final_acc is not None and job.error is None  # no failure
    for job in finished:
        assert epochs_of(store, job.job_id) == list(range(1, EPOCHS + 1))
    for model in ("linear", "mlp"):
        family = [job for job in jobs if job.model == model]
        best = max(family, key=lambda job: job.best_acc)
        assert best.status == "succeeded"  # each family keeps its best: none stopped them all

    shown = run_cli(env, "status", "asha")
    assert shown.stdout.count("stopped") >= len(stopped)
    resumed = run_cli(env, "resume", "asha")
    # Stopped is not a failure to run again.
    assert resumed.stdout == "sweep asha is finished: nothing to queue again\n", resumed.stderr
    report = Path(env["MNISTGRID_REPORTS_DIR"]) / "asha" / "report.md"
    text = report.read_text()
    assert f"It stopped {len(stopped)} jobs" in text
    trained_epochs = sum(len(epochs_of(store, job.job_id)) for job in jobs)
    assert f"trained {trained_epochs} of the full grid's {len(jobs) * EPOCHS} epochs" in text
    print(f"\nASHA: {len(stopped)} of {len(jobs)} jobs stopped, {trained_epochs} epochs trained")


def test_a_worker_killed_right_after_a_stop_decision_leaves_the_job_stopped(env, tmp_path):
    grid = tmp_path / "asha.toml"
    grid.write_text(GRID.replace('name = "asha"', 'name = "killed"'))
    marker = tmp_path / "killed-after-stop"
    hooked = {**env, "PYTHONPATH": str(HOOKS), "MNISTGRID_TEST_KILL_AFTER_STOP": str(marker)}
    store = Store(env["MNISTGRID_DATABASE_URL"])
    started = [start_worker(hooked, f"s{i}", tmp_path / f"s{i}.log") for i in range(2)]
    try:
        assert run_cli(env, "submit", str(grid)).returncode == 0
        wait_until(marker.exists, 300, "a stop decision and the kill after it")
        stopped_then = [int(job_id) for job_id in marker.read_text().split(",")]
        wait_until(lambda: store.get_sweep("killed").status == "finished", 300, "the end")
    finally:
        for process in started:
            stop_process(process)
    jobs = {job.job_id: job for job in store.sweep_jobs(store.get_sweep("killed").sweep_id)}
    for job_id in stopped_then:
        assert jobs[job_id].status == "stopped" and jobs[job_id].attempts == 1
    for job in jobs.values():
        trained = epochs_of(store, job.job_id)
        assert trained == list(range(1, len(trained) + 1))  # one row per epoch, none twice
        assert job.status in ("stopped", "succeeded")
    resumed = [job for job in jobs.values() if job.attempts == 2]
    assert resumed, "the killed worker's other jobs were taken over and finished"
    logs = "".join(p.read_text() for p in tmp_path.glob("s*.log"))
    assert os.path.exists(marker) and "resuming after epoch" in logs
