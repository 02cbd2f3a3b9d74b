"""Faults a long sweep meets, injected for real: killed workers, restarted Redis and
PostgreSQL, racing submissions, diverging and failing jobs, a pickled message.

    python -m pytest tests/integration/test_faults.py -s   # -s prints the measured figures
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from db.migrate import upgrade
from db.store import Store
from mnistgrid.queue.app import make_celery
from mnistgrid.routing import TRAIN_TASK
from mnistgrid.settings import load_settings
from tests.integration.conftest import postgres_database, restart_postgres
from tests.integration.services import (
    epochs_of,
    linear_grid,
    mnistgrid_env,
    private_redis_db,
    redis_server,
    run_cli,
    start_worker,
    stop_process,
    wait_until,
    workers,
)

pytestmark = pytest.mark.integration

LEASE = 3.0  # seconds: a dead worker's job is taken over this soon after its last write
HOOKS = Path(__file__).parent / "hooks"


@pytest.fixture
def pg_url():
    with postgres_database("mnistgrid_faults") as url:
        upgrade(url)
        yield url


@pytest.fixture
def env(pg_url, mnist_dir, tmp_path):
    with private_redis_db() as redis_url:
        yield mnistgrid_env(
            database_url=pg_url,
            broker_url=redis_url,
            data_dir=str(mnist_dir),
            lease_seconds=str(LEASE),
            reports_dir=str(tmp_path / "reports"),
        )


@pytest.mark.parametrize("fused", [False, True], ids=["one-job", "stack-of-three"])
def test_a_killed_worker_costs_at_most_the_epoch_in_progress(env, tmp_path, fused):
    store = Store(env["MNISTGRID_DATABASE_URL"])
    lrs = "[0.3, 0.5, 1.0]" if fused else "[0.5]"
    grid = linear_grid(tmp_path, "kill", 20, lrs, extra="").read_text()
    path = tmp_path / "kill.toml"
    path.write_text(grid.replace("fuse = false", f"fuse = {str(fused).lower()}"))
    # The stack stays on the worker that took it, so the kill hits all of it (a stack shared
    # with the idle worker meets kills in tests/integration/test_chaos.py).
    env = {**env, "MNISTGRID_SHARE_STACKS": "false"}
    started = [start_worker(env, f"k{i}", tmp_path / f"k{i}.log") for i in range(2)]
    try:
        assert run_cli(env, "submit", str(path)).returncode == 0
        jobs = store.sweep_jobs(store.get_sweep("kill").sweep_id)
        first = jobs[0].job_id
        wait_until(lambda: len(epochs_of(store, first)) >= 3, 120, "three epochs")
        holder_pid = int(store.get_job(first).worker.split(":")[1])
        victim = next(p for p in started if os.getpgid(holder_pid) == p.pid)
        os.killpg(victim.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        victim.wait()
        stored_at_kill = {j.job_id: len(epochs_of(store, j.job_id)) for j in jobs}

        watched = run_cli(env, "watch", "kill", timeout=180)
        recovered = time.monotonic() - killed_at
    finally:
        for process in started:
            stop_process(process)

    assert watched.returncode == 0, watched.stdout + watched.stderr
    logs = "".join(p.read_text() for p in tmp_path.glob("k*.log"))
    for job in jobs:
        final = store.get_job(job.job_id)
        assert final.status == "succeeded" and final.attempts == 2
        assert epochs_of(store, job.job_id) == list(range(1, 21))  # one row per epoch
        resumed = re.findall(rf"job {job.job_id} attempt 2: resuming after epoch (\d+)", logs)
        assert [int(e) for e in resumed] == [stored_at_kill[job.job_id]], logs[-2000:]
    print(
        f"\nSIGKILL ({len(jobs)} jobs): epochs stored at the kill {stored_at_kill}, each "
        f"resumed right after them (0 whole epochs redone); sweep done {recovered:.1f} s "
        "after the kill"
    )


def test_sigterm_hands_the_job_back_at_the_next_epoch_boundary(env, tmp_path):
    store = Store(env["MNISTGRID_DATABASE_URL"])
    worker = start_worker(env, "term", tmp_path / "term.log")
    try:
        assert run_cli(env, "submit", str(linear_grid(tmp_path, "term", 40))).returncode == 0
        (job,) = store.sweep_jobs(store.get_sweep("term").sweep_id)
        wait_until(lambda: len(epochs_of(store, job.job_id)) >= 2, 120, "two epochs")
        os.kill(worker.pid, signal.SIGTERM)  # what `docker stop` sends to the main process
        stopping_at = time.monotonic()
        assert worker.wait(timeout=60) == 0
        stopped_in = time.monotonic() - stopping_at
    finally:
        stop_process(worker)
    handed_back = store.get_job(job.job_id)
    stored = len(epochs_of(store, job.job_id))
    assert handed_back.status == "queued" and handed_back.worker is None
    assert 2 <= stored < 40, "it stopped at an epoch boundary, long before the job's end"

    with workers(env, tmp_path, count=1):  # its message was queued again: a new worker takes it
        watched = run_cli(env, "watch", "term", timeout=180)
    assert watched.returncode == 0, watched.stdout + watched.stderr
    final = store.get_job(job.job_id)
    assert final.status == "succeeded" and final.attempts == 2
    assert epochs_of(store, job.job_id) == list(range(1, 41))
    assert (
        f"job {job.job_id} attempt 2: resuming after epoch {stored}"
        in (tmp_path / "worker0.log").read_text()
    )
    print(
        f"\nSIGTERM: the worker exited {stopped_in:.1f} s after the signal, handing the job "
        f"back after epoch {stored}; another worker resumed it there"
    )


def test_redis_restarting_mid_sweep(pg_url, mnist_dir, tmp_path):
    with redis_server(tmp_path) as server:
        env = mnistgrid_env(
            database_url=pg_url,
            broker_url=server.url,
            data_dir=str(mnist_dir),
            lease_seconds=str(LEASE),
            reports_dir=str(tmp_path / "reports"),
        )
        store = Store(pg_url)
        with workers(env, tmp_path):
            grid = linear_grid(tmp_path, "redis", 6, lrs="[0.1, 0.2, 0.3, 0.5, 1.0, 2.0]")
            assert run_cli(env, "submit", str(grid)).returncode == 0
            sweep_id = store.get_sweep("redis").sweep_id
            wait_until(
                lambda: any(j.last_epoch for j in store.sweep_jobs(sweep_id)), 120, "a first epoch"
            )
            server.stop()  # the queued messages are gone with it
            time.sleep(2)
            server.start()
            restarted_at = time.monotonic()
            watched = run_cli(env, "watch", "redis", timeout=240)
            recovered = time.monotonic() - restarted_at
    assert watched.returncode == 0, watched.stdout + watched.stderr
    jobs = store.sweep_jobs(sweep_id)
    assert {j.status for j in jobs} == {"succeeded"}
    for job in jobs:
        assert epochs_of(store, job.job_id) == list(range(1, 7))
    print(f"\nRedis restart: sweep finished {recovered:.1f} s after Redis came back")


def test_postgresql_restarting_mid_sweep(env, tmp_path):
    store = Store(env["MNISTGRID_DATABASE_URL"])
    with workers(env, tmp_path):
        grid = linear_grid(tmp_path, "pg", 8, lrs="[0.1, 0.3, 1.0, 2.0]")
        assert run_cli(env, "submit", str(grid)).returncode == 0
        sweep_id = store.get_sweep("pg").sweep_id
        wait_until(
            lambda: any((j.last_epoch or 0) >= 2 for j in store.sweep_jobs(sweep_id)),
            120,
            "two epochs",
        )
        restart_postgres()
        watched = run_cli(env, "watch", "pg", timeout=240)
    assert watched.returncode == 0, watched.stdout + watched.stderr
    for job in store.sweep_jobs(sweep_id):
        assert job.status == "succeeded"
        assert epochs_of(store, job.job_id) == list(range(1, 9))


def test_the_same_grid_submitted_twice_at_once(env, tmp_path):
    grid = linear_grid(tmp_path, "race", 2, lrs="[0.1, 0.2, 0.3, 0.4, 0.5]")
    racing = [
        subprocess.Popen(
            [sys.executable, "-m", "mnistgrid.cli", "submit", str(grid)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120) for p in racing]
    assert [p.returncode for p in racing] == [0, 0], outputs
    store = Store(env["MNISTGRID_DATABASE_URL"])
    assert [s.name for s in store.list_sweeps()] == ["race"]
    assert len(store.sweep_jobs(store.get_sweep("race").sweep_id)) == 5
    queued = redis.Redis.from_url(env["MNISTGRID_BROKER_URL"]).llen("cpu")
    assert queued == 5, "one of the two submissions queued the tasks, the other nothing"


def test_a_diverging_job_ends_as_diverged_and_the_rest_carries_on(env, tmp_path):
    grid = tmp_path / "div.toml"
    grid.write_text(
        'name = "div"\n[train]\nepochs = 3\n[grid]\nmodel = "linear"\nlr = [0.5, 1e38]\n'
    )  # fused: both in one stack
    with workers(env, tmp_path, count=1):
        done = run_cli(env, "submit", str(grid), "--wait")
    assert done.returncode == 0, done.stderr
    store = Store(env["MNISTGRID_DATABASE_URL"])
    jobs = {j.lr: j for j in store.sweep_jobs(store.get_sweep("div").sweep_id)}
    assert jobs[1e38].status == "diverged" and epochs_of(store, jobs[1e38].job_id) == [1]
    (row,) = store.epochs(jobs[1e38].job_id)
    assert row.train_loss != row.train_loss  # NaN is stored as data
    assert jobs[0.5].status == "succeeded" and epochs_of(store, jobs[0.5].job_id) == [1, 2, 3]


def test_a_sweep_whose_last_job_diverges_still_ends_with_its_report(env, tmp_path):
    grid = tmp_path / "lastdiv.toml"
    grid.write_text('name = "lastdiv"\n[train]\nepochs = 3\n[grid]\nmodel = "linear"\nlr = 1e38\n')
    with workers(env, tmp_path, count=1):
        done = run_cli(env, "submit", str(grid), "--wait")
    assert done.returncode == 0, done.stderr
    assert Store(env["MNISTGRID_DATABASE_URL"]).get_sweep("lastdiv").status == "finished"
    report = Path(env["MNISTGRID_REPORTS_DIR"]) / "lastdiv" / "report.html"
    assert f"report: {report}" in done.stdout, done.stdout
    assert report.exists()


def test_a_report_the_worker_cannot_write_fails_the_wait_with_its_error(env, tmp_path):
    # A file where the reports folder should be: the worker cannot make it (as root, where an
    # unwritable folder would not stop it).
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("in the way")
    blocked_env = {**env, "MNISTGRID_REPORTS_DIR": str(blocked)}
    with workers(blocked_env, tmp_path, count=1):
        done = run_cli(blocked_env, "submit", str(linear_grid(tmp_path, "noreport", 1)), "--wait")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 succeeded" in done.stdout  # the jobs are fine: only the report failed
    line = next(x for x in done.stderr.splitlines() if x.startswith("report: failed"))
    assert "on the worker: " in line and "not-a-folder" in line, done.stderr
    sweep = Store(env["MNISTGRID_DATABASE_URL"]).get_sweep("noreport")
    assert sweep.report_status == "failed" and "not-a-folder" in sweep.report_error


def test_a_job_that_raises_fails_once_with_its_error(env, mnist_dir, tmp_path):
    corrupt = tmp_path / "corrupt"
    shutil.copytree(mnist_dir, corrupt)
    labels = corrupt / "t10k-labels-idx1-ubyte.gz"
    labels.chmod(0o644)
    labels.write_bytes(labels.read_bytes()[:100])
    bad_env = {**env, "MNISTGRID_DATA_DIR": str(corrupt)}
    with workers(bad_env, tmp_path, count=1):
        done = run_cli(
            bad_env, "submit", str(linear_grid(tmp_path, "fail", 2, "[0.1, 0.2]")), "--wait"
        )
    assert done.returncode == 1  # --wait says a job failed
    store = Store(env["MNISTGRID_DATABASE_URL"])
    for job in store.sweep_jobs(store.get_sweep("fail").sweep_id):
        assert job.status == "failed" and job.attempts == 1
        assert "t10k-labels-idx1-ubyte.gz" in job.error
    assert store.get_sweep("fail").status == "finished"


def test_a_pickled_message_is_refused(env, tmp_path):
    grid = linear_grid(tmp_path, "pickle", 1)
    # Written and queued the normal way, then drained before a worker runs (one started first
    # could take the normal message in between): only the pickled copy will be there.
    assert run_cli(env, "submit", str(grid)).returncode == 0
    redis.Redis.from_url(env["MNISTGRID_BROKER_URL"]).delete("cpu")
    store = Store(env["MNISTGRID_DATABASE_URL"])
    (job,) = store.sweep_jobs(store.get_sweep("pickle").sweep_id)
    # A lease long enough that the worker's first reconcile, which a slow start can delay past
    # a short one, does not send the drained job again.
    with workers({**env, "MNISTGRID_LEASE_SECONDS": "120"}, tmp_path, count=1):
        app = make_celery(load_settings().with_overrides(broker_url=env["MNISTGRID_BROKER_URL"]))
        app.send_task(TRAIN_TASK, args=[[job.job_id]], queue="cpu", serializer="pickle")
        log = tmp_path / "worker0.log"
        wait_until(lambda: "ContentDisallowed" in log.read_text(), 60, "the refusal in the log")
    assert store.get_job(job.job_id).attempts == 0  # never started


@pytest.mark.parametrize("pool", ["prefork", "solo"])
def test_a_job_over_its_time_limit_fails_and_the_sweep_ends(env, tmp_path, pool):
    grid = linear_grid(tmp_path, "slow", 200).read_text()
    path = tmp_path / "slow.toml"
    # Long enough for the data load and a first epoch on a loaded 2-core machine, far too
    # short for 200 epochs (0.3 s each on an unloaded machine, 2 to 3 s on a loaded one).
    path.write_text(grid.replace("epochs = 200", "epochs = 200\ntime_limit = 12"))
    # The solo pool (what GPU workers run) enforces no Celery time limit: the worker's own does.
    worker = start_worker(env, "slow", tmp_path / "slow.log", "--pool", pool)
    try:
        done = run_cli(env, "submit", str(path), "--wait", timeout=180)
    finally:
        stop_process(worker)
    assert done.returncode == 1, done.stdout + done.stderr
    store = Store(env["MNISTGRID_DATABASE_URL"])
    (job,) = store.sweep_jobs(store.get_sweep("slow").sweep_id)
    assert job.status == "failed" and job.error.startswith("time limit of 12 s exceeded")
    assert job.lease_until is None
    stored = len(epochs_of(store, job.job_id))
    assert 0 < stored < 200, f"{stored} epochs kept"  # the epochs it finished are kept


def test_a_step_that_hangs_fails_at_the_time_limit_in_the_solo_pool(env, tmp_path):
    """A hung CUDA step never returns to the training loop: the lease keeper fails the job at
    its time limit and stops renewing, and the sweep ends, while the step still hangs."""
    hung, fine = 0.0625, 0.5
    path = linear_grid(tmp_path, "hang", 3, f"[{hung}, {fine}]", extra="")
    path.write_text(path.read_text().replace("epochs = 3", "epochs = 3\ntime_limit = 15"))
    hooked = {**env, "PYTHONPATH": str(HOOKS), "MNISTGRID_TEST_HANG_LR": str(hung)}
    started = [
        start_worker(hooked, f"solo{i}", tmp_path / f"solo{i}.log", "--pool", "solo")
        for i in range(2)
    ]
    try:
        done = run_cli(env, "submit", str(path), "--wait", timeout=240)
        store = Store(env["MNISTGRID_DATABASE_URL"])
        jobs = {job.lr: job for job in store.sweep_jobs(store.get_sweep("hang").sweep_id)}
        still_hung = [p for p in started if p.poll() is None]
    finally:
        for process in started:
            stop_process(process, timeout=5)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "time limit of 15 s exceeded" in jobs[hung].error
    assert (jobs[hung].status, jobs[hung].lease_until) == ("failed", None)
    assert jobs[fine].status == "succeeded"
    assert len(still_hung) == 2  # the hung process is alive: only its job was given up
