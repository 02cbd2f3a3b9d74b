"""Watching and steering a running sweep through the real CLI, Redis and worker processes."""

from __future__ import annotations

import signal

import pytest
import redis

from db.store import Store
from tests.integration.services import (
    cli_running,
    run_cli,
    sqlite_env,
    wait_until,
    workers,
)

pytestmark = pytest.mark.integration

LONG_GRID = """
name = "long"
fuse = false
[train]
epochs = 60
[grid]
model = "linear"
loss = ["cross_entropy", "softmax_mse"]
lr = [0.5, 1.0]
batch_size = [128]
"""


@pytest.fixture
def env(tmp_path, mnist_dir):
    with sqlite_env(tmp_path, mnist_dir, "control") as settings:
        yield settings


def test_cancel_stops_at_an_epoch_boundary_and_resume_runs_only_the_rest(env, tmp_path):
    earlier = tmp_path / "earlier.toml"  # the cancelled sweep is not the database's first
    earlier.write_text('name = "earlier"\n[grid]\nmodel = "baseline"\n')
    grid = tmp_path / "long.toml"
    grid.write_text(LONG_GRID)
    store = Store(env["MNISTGRID_DATABASE_URL"])
    with workers(env, tmp_path):
        assert run_cli(env, "submit", str(earlier), "--wait").returncode == 0
        assert run_cli(env, "submit", str(grid)).returncode == 0
        sweep_id = store.get_sweep("long").sweep_id

        def some_epochs_done() -> bool:
            return any((j.last_epoch or 0) >= 2 for j in store.sweep_jobs(sweep_id))

        wait_until(some_epochs_done, 120, "a job to finish two epochs")
        cancelled = run_cli(env, "cancel", "long")
        assert cancelled.returncode == 0, cancelled.stderr
        assert "stopping at their next epoch: " in cancelled.stdout
        assert "`mnistgrid resume long` runs what is left" in cancelled.stdout
        ended = run_cli(env, "cancel", "earlier")
        assert ended.stdout == "sweep earlier has finished: nothing to cancel\n", ended.stderr
        wait_until(
            lambda: all(j.status == "cancelled" for j in store.sweep_jobs(sweep_id)),
            60,
            "every job to stop",
        )
        stopped_at = {j.job_id: j.last_epoch or 0 for j in store.sweep_jobs(sweep_id)}
        assert 0 < max(stopped_at.values()) < 60
        epochs = store.sweep_epochs(sweep_id)
        for job_id, last in stopped_at.items():  # whole epochs only, none missing
            assert [e.epoch for e in epochs.get(job_id, [])] == list(range(1, last + 1))

        resumed = run_cli(env, "resume", "long", "--wait")
        assert resumed.returncode == 0, resumed.stderr + resumed.stdout

    jobs = store.sweep_jobs(sweep_id)
    assert {j.status for j in jobs} == {"succeeded"}
    assert store.get_sweep(sweep_id).status == "finished"
    assert store.get_sweep("earlier").status == "finished"
    for job in jobs:
        rows = store.epochs(job.job_id)
        assert [e.epoch for e in rows] == list(range(1, 61))
        # Stopped mid-run: started twice. Cancelled while still queued: started once.
        assert job.attempts == (2 if stopped_at[job.job_id] else 1)


def test_stopping_the_wait_leaves_the_sweep_going_and_says_how_to_follow_it(env, tmp_path):
    grid = tmp_path / "long.toml"
    grid.write_text(LONG_GRID)
    with cli_running(env, "submit", str(grid), "--wait") as (waiting, lines):
        wait_until(lambda: any("submitted" in line for line in lines), 60, "the sweep written")
        waiting.send_signal(signal.SIGINT)  # Ctrl-C
        assert waiting.wait(timeout=30) == 130
    output = "".join(lines)
    assert "stopped waiting; sweep long goes on without it: `mnistgrid watch long`" in output
    assert "Traceback" not in output
    store = Store(env["MNISTGRID_DATABASE_URL"])
    assert store.get_sweep("long").status == "queued"
    assert redis.Redis.from_url(env["MNISTGRID_BROKER_URL"]).llen("cpu") == 4  # still queued


def test_rerun_trains_a_stored_job_again(env, tmp_path):
    grid = tmp_path / "one.toml"
    grid.write_text('name = "one"\n[train]\nepochs = 2\n[grid]\nmodel = "linear"\n')
    with workers(env, tmp_path, count=1):
        assert run_cli(env, "submit", str(grid), "--wait").returncode == 0
    store = Store(env["MNISTGRID_DATABASE_URL"])
    (job,) = store.sweep_jobs(store.get_sweep("one").sweep_id)
    again = run_cli(env, "rerun", str(job.job_id))
    assert again.returncode == 0, again.stderr
    assert f"stored final accuracy {job.final_acc:.4f}" in again.stdout
    assert f"this run {job.final_acc:.4f}" in again.stdout  # same seed, same data: same result


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["status", "no-such-sweep"], "no sweep 'no-such-sweep'"),
        (["cancel", "999"], "no sweep '999'"),
        (["rerun", "999"], "999"),
        (["watch", "nope"], "no sweep 'nope'"),
    ],
)
def test_unknown_sweeps_and_jobs_are_one_line_errors(env, args, message):
    done = run_cli(env, *args)
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_status_and_sweeps_list_what_was_submitted(env, tmp_path):
    grid = tmp_path / "q.toml"
    grid.write_text('name = "listed"\n[grid]\nmodel = "baseline"\n')
    assert run_cli(env, "submit", str(grid)).returncode == 0
    listed = run_cli(env, "sweeps")
    assert "listed" in listed.stdout and listed.returncode == 0
    status = run_cli(env, "status", "listed")
    assert status.returncode == 0 and status.stdout.count("queued") >= 2
    everything = run_cli(env, "status")  # no worker was started: it says so
    assert "listed" in everything.stdout and "no live workers" in everything.stdout
