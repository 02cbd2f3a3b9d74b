"""A grid through real Redis and two real `mnistgrid worker` processes, into SQLite and
PostgreSQL: every job ends and every epoch is stored."""

from __future__ import annotations

import pytest

from db.migrate import upgrade
from db.store import Store
from tests.integration.services import mnistgrid_env, private_redis_db, run_cli, workers

pytestmark = pytest.mark.integration

GRID = """
name = "fourteen"
[train]
epochs = 3
time_limit = 300
[grid]
model = ["baseline", "linear", "mlp"]
distance = ["mae", "mse"]
loss = ["mnist_loss", "cross_entropy"]
lr = [0.5, 1.0]
hidden = [16, 32]
batch_size = [512]
"""
# 2 baselines + 2 linear losses x 2 lrs + 2 mlp losses x 2 lrs x 2 hidden = 14 jobs


@pytest.fixture
def migrated_url(database_url):
    upgrade(database_url)  # what `mnistgrid db upgrade` does before a stack starts
    return database_url


@pytest.fixture
def redis_url():
    with private_redis_db() as url:
        yield url


@pytest.mark.parametrize("fuse", [True, False])
def test_a_grid_runs_to_the_end_on_two_workers(migrated_url, redis_url, mnist_dir, tmp_path, fuse):
    grid = tmp_path / "grid.toml"
    grid.write_text(
        GRID if fuse else GRID.replace('name = "fourteen"', 'name = "fourteen"\nfuse = false')
    )
    env = mnistgrid_env(
        database_url=migrated_url,
        broker_url=redis_url,
        data_dir=str(mnist_dir),
        reports_dir=str(tmp_path / "reports"),
    )
    with workers(env, tmp_path):
        done = run_cli(env, "submit", str(grid), "--wait")
    assert done.returncode == 0, done.stderr + done.stdout
    assert "14 jobs" in done.stdout

    store = Store(migrated_url)
    sweep = store.get_sweep("fourteen")
    assert sweep.status == "finished"
    jobs = store.sweep_jobs(sweep.sweep_id)
    assert len(jobs) == 14 and {j.status for j in jobs} == {"succeeded"}
    epochs = store.sweep_epochs(sweep.sweep_id)
    for job in jobs:
        expected = 1 if job.model == "baseline" else 3
        assert [e.epoch for e in epochs[job.job_id]] == list(range(1, expected + 1))
        # Started once, or twice when its stack shared it with the idle worker; none lost.
        assert job.lost_attempts == 0 and job.attempts <= 2
        assert job.run_info["data_checksum"] and job.run_info["torch"]
    assert len({j.worker for j in jobs}) == 2, "both workers took jobs"
    grouped = [j for j in jobs if j.group_key]
    assert bool(grouped) == fuse


def test_submitting_the_same_grid_again_is_idempotent(migrated_url, redis_url, tmp_path):
    grid = tmp_path / "grid.toml"
    grid.write_text(GRID)
    env = mnistgrid_env(database_url=migrated_url, broker_url=redis_url)
    first = run_cli(env, "submit", str(grid))
    again = run_cli(env, "submit", str(grid))
    assert first.returncode == 0 and again.returncode == 0, first.stderr + again.stderr
    assert "already submitted" in again.stdout
    changed = tmp_path / "changed.toml"
    changed.write_text(GRID.replace("epochs = 3", "epochs = 4"))
    refused = run_cli(env, "submit", str(changed), "--name", "fourteen")
    assert refused.returncode == 2 and "--new" in refused.stderr
    renamed = run_cli(env, "submit", str(changed), "--name", "fourteen", "--new")
    assert renamed.returncode == 0, renamed.stderr
    store = Store(migrated_url)
    assert sorted(s.name for s in store.list_sweeps()) == ["fourteen", "fourteen-2"]
    assert len(store.sweep_jobs(store.get_sweep("fourteen").sweep_id)) == 14
