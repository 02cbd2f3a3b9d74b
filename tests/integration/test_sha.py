"""Successive halving with synchronous rungs on real workers and real Redis: jobs park at a rung,
the survivors of several stacks go on as one stack, and neither a worker killed while its jobs
are parked nor one killed in the middle of a promotion loses anything.

    python -m pytest tests/integration/test_sha.py -s
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from db.store import Store
from mnistgrid.core.training import train_jobs
from mnistgrid.data.datasets import load_task
from mnistgrid.spec import JobSpec
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

HOOKS = Path(__file__).parent / "hooks"
EPOCHS = 4
# Two stacks of three (MNISTGRID_GROUP_SIZE=3), rungs at epochs 1 and 3: two of six go on at
# epoch 1, one of them at epoch 3.
GRID = f"""
name = "{{name}}"
[data]
digits = [3, 7]
[train]
epochs = {EPOCHS}
[stop]
rule = "sha"
grace = 1
reduction = 3
[grid]
model = "linear"
loss = "cross_entropy"
lr = [0.001, 0.5, 0.002, 0.003, 0.004, 0.3]
batch_size = 64
"""
# Accuracy of a job trained alone from the same start: the fused tests' tolerance.
ACCURACY_TOLERANCE = 2 / 2000


@pytest.fixture(params=["sqlite", "postgresql"])
def env(request, mnist_dir, tmp_path):
    from db.migrate import upgrade
    from tests.integration.conftest import postgres_database

    with private_redis_db() as redis_url:
        settings = {
            "broker_url": redis_url,
            "data_dir": str(mnist_dir),
            "lease_seconds": "3",
            "group_size": "3",
            "reports_dir": str(tmp_path / "reports"),
        }
        if request.param == "sqlite":
            yield mnistgrid_env(database_url=f"sqlite:///{tmp_path / 'sha.db'}", **settings)
            return
        with postgres_database("mnistgrid_sha") as url:
            upgrade(url)
            yield mnistgrid_env(database_url=url, **settings)


def submit(env: dict[str, str], tmp_path: Path, name: str) -> int:
    grid = tmp_path / f"{name}.toml"
    grid.write_text(GRID.format(name=name))
    assert run_cli(env, "submit", str(grid)).returncode == 0
    return Store(env["MNISTGRID_DATABASE_URL"]).get_sweep(name).sweep_id


def alone(spec: JobSpec, mnist_dir: Path) -> float:
    """The job's final accuracy trained by itself, start to end, undisturbed."""
    data = load_task(mnist_dir, Path.home() / ".cache" / "mnistgrid", spec.data)
    return train_jobs([spec], data)[0].final.valid_acc


def test_an_sha_sweep_parks_at_rungs_and_restacks_the_survivors(env, tmp_path, mnist_dir):
    store = Store(env["MNISTGRID_DATABASE_URL"])
    # One worker of one slot: nothing to spread the survivors over (the next test).
    with workers(env, tmp_path, count=1):
        sweep_id = submit(env, tmp_path, "sha")
        planned = {job.job_id: job.group_key for job in store.sweep_jobs(sweep_id)}
        # The sweep ends before its report is written (the report queue's task): wait for both.
        wait_until(lambda: store.get_sweep(sweep_id).report_status == "written", 300, "the end")
    jobs = {job.lr: job for job in store.sweep_jobs(sweep_id)}
    assert sorted(job.status for job in jobs.values()) == ["stopped"] * 5 + ["succeeded"]
    reached = sorted(len(epochs_of(store, job.job_id)) for job in jobs.values())
    assert reached == [1, 1, 1, 1, 3, 4]  # four stopped at rung 1, one at rung 3
    survivors = [job for job in jobs.values() if job.cleared_rung >= 1]
    assert len(survivors) == 2
    # The two went on from different stacks, and trained epochs 2 and 3 as one stack: each
    # stack epoch's time is shared equally among its members.
    assert len({planned[job.job_id] for job in survivors}) == 2
    for epoch in (2, 3):
        shares = {store.epochs(job.job_id)[epoch - 1].seconds for job in survivors}
        assert len(shares) == 1
    winner = next(job for job in survivors if job.status == "succeeded")
    spec = JobSpec.model_validate(winner.params)
    assert abs(winner.final_acc - alone(spec, mnist_dir)) <= ACCURACY_TOLERANCE
    shown = run_cli(env, "status", "sha").stdout
    assert shown.count("stopped") >= 5
    report = (Path(env["MNISTGRID_REPORTS_DIR"]) / "sha" / "report.md").read_text()
    assert "| epoch 1 | 6 | 2 | 4 |" in report and "| epoch 3 | 2 | 1 | 1 |" in report


@pytest.mark.parametrize("env", ["sqlite"], indirect=True)
def test_survivors_train_apart_on_idle_workers(env, tmp_path):
    store = Store(env["MNISTGRID_DATABASE_URL"])
    with workers(env, tmp_path) as started:
        # Each worker is on the roster, as its node name with its one slot.
        wait_until(lambda: len(store.live_workers()) == 2, 60, "two workers on the roster")
        assert {(w.queues, w.slots) for w in store.live_workers()} == {(("cpu", "report"), 1)}
        shown = run_cli(env, "status").stdout
        assert "live workers" in shown and "w0@" in shown and "w1@" in shown
        sweep_id = submit(env, tmp_path, "apart")
        wait_until(lambda: store.get_sweep(sweep_id).status == "finished", 300, "the end")
        stop_process(started[0])  # a warm shutdown leaves the roster
        assert [w.name.split("@")[0] for w in store.live_workers()] == ["w1"]
    survivors = [job for job in store.sweep_jobs(sweep_id) if job.cleared_rung >= 1]
    assert len(survivors) == 2
    # Two idle workers at the rung: the two survivors went on as two stacks of one, each
    # epoch's time its own.
    assert [job.group_key for job in survivors] == [None, None]
    shares = {store.epochs(job.job_id)[1].seconds for job in survivors}
    assert len(shares) == 2


# The faults on PostgreSQL alone (the store's own tests race both backends at a rung), and
# Hyperband on SQLite alone: each layer is covered, at half the minutes.
@pytest.mark.parametrize("env", ["postgresql"], indirect=True)
def test_a_worker_killed_while_its_jobs_are_parked_loses_nothing(env, tmp_path):
    store = Store(env["MNISTGRID_DATABASE_URL"])
    # The first stack parks at epoch 1; the second (its first lr 0.003) hangs in its first
    # epoch, so the rung cannot complete and the park lasts until the kill: an epoch of these
    # stacks takes a tenth of a second, a window a poll could miss.
    hung = {**env, "PYTHONPATH": str(HOOKS), "MNISTGRID_TEST_HANG_LR": "0.003"}
    first = start_worker(hung, "first", tmp_path / "first.log")
    try:
        sweep_id = submit(env, tmp_path, "parked")
        wait_until(lambda: parked_yet(store, sweep_id, tmp_path / "first.log"), 120, "a park")
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
    finally:
        stop_process(first)
    with workers(env, tmp_path, count=1):
        wait_until(lambda: store.get_sweep(sweep_id).status == "finished", 300, "the end")
    jobs = store.sweep_jobs(sweep_id)
    assert sorted(job.status for job in jobs) == ["stopped"] * 5 + ["succeeded"]
    assert sum(job.cleared_rung >= 1 for job in jobs) == 2
    for job in jobs:
        trained = epochs_of(store, job.job_id)
        assert trained == list(range(1, len(trained) + 1))


def parked_yet(store: Store, sweep_id: int, log: Path) -> bool:
    """Whether a job of the sweep is parked; a sweep that ended without parking is a failure
    at once, with what its jobs and its worker said."""
    jobs = store.sweep_jobs(sweep_id)
    if any(job.status == "parked" for job in jobs):
        return True
    ended = store.get_sweep(sweep_id).status in ("finished", "cancelled")
    assert not ended, [(job.status, job.error) for job in jobs] + [log.read_text()[-3000:]]
    return False


@pytest.mark.parametrize("env", ["postgresql"], indirect=True)
def test_a_worker_killed_in_the_middle_of_a_promotion_promotes_once(env, tmp_path):
    store = Store(env["MNISTGRID_DATABASE_URL"])
    marker = tmp_path / "promoted-then-killed"
    hooked = {**env, "PYTHONPATH": str(HOOKS), "MNISTGRID_TEST_KILL_AFTER_PROMOTE": str(marker)}
    started = [start_worker(hooked, f"p{i}", tmp_path / f"p{i}.log") for i in range(2)]
    try:
        sweep_id = submit(env, tmp_path, "promotion")
        wait_until(marker.exists, 180, "a promotion and the kill after it")
        promoted_then = {int(job_id) for job_id in marker.read_text().split(",")}
        # The killed worker sent nothing: the healers send the promoted jobs again.
        wait_until(lambda: store.get_sweep(sweep_id).status == "finished", 300, "the end")
    finally:
        for process in started:
            stop_process(process)
    jobs = {job.job_id: job for job in store.sweep_jobs(sweep_id)}
    assert {j for j, job in jobs.items() if job.cleared_rung >= 1} == promoted_then
    assert sorted(job.status for job in jobs.values()) == ["stopped"] * 5 + ["succeeded"]
    for job_id in jobs:
        trained = epochs_of(store, job_id)
        assert trained == list(range(1, len(trained) + 1))


HYPERBAND = """
name = "hyperband"
[data]
digits = [3, 7]
[train]
epochs = 9
[stop]
rule = "hyperband"
metric = "valid_loss"  # continuous: no ties at a rung (tied jobs would all go on)
grace = 1
reduction = 3
[grid]
model = "linear"
lr = [0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1, 3, 10]
batch_size = 64
"""  # brackets 0, 1, 2 of 5, 3 and 1 jobs; their rungs: epochs 1 and 3, epoch 3, none


@pytest.mark.parametrize("env", ["sqlite"], indirect=True)
def test_hyperband_cuts_each_bracket_at_its_own_rungs(env, tmp_path):
    store = Store(env["MNISTGRID_DATABASE_URL"])
    grid = tmp_path / "hyperband.toml"
    grid.write_text(HYPERBAND)
    with workers(env, tmp_path):
        assert run_cli(env, "submit", str(grid), "--wait", timeout=300).returncode == 0
    jobs = store.sweep_jobs(store.get_sweep("hyperband").sweep_id)
    trained = {}
    for job in jobs:
        trained.setdefault(job.bracket, []).append(len(epochs_of(store, job.job_id)))
    # Bracket 0 keeps ceil(5/3) = 2 at epoch 1 and 1 at epoch 3; bracket 1 keeps 1 of 3 at
    # epoch 3; bracket 2 has no rung: its job trains to the end.
    assert {b: sorted(e) for b, e in trained.items()} == {
        0: [1, 1, 1, 3, 9],
        1: [3, 3, 9],
        2: [9],
    }
    assert sorted(job.status for job in jobs) == ["stopped"] * 6 + ["succeeded"] * 3
