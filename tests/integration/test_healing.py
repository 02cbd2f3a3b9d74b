"""Sweeps heal themselves: with nobody watching, the workers' healers send again what a dead
worker or a lost message left behind, exactly once, within a few leases.

    python -m pytest tests/integration/test_healing.py -s   # -s prints the measured figures

No test here runs `watch` or `submit --wait`: the sweep is followed by reading the store.
"""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path
from typing import Any

import pytest
import redis

from db.migrate import upgrade
from db.store import Store
from mnistgrid.core.training import train_jobs
from mnistgrid.data.datasets import load_task
from mnistgrid.queue.app import make_celery
from mnistgrid.queue.reconcile import reconcile
from mnistgrid.settings import Settings
from mnistgrid.spec import JobSpec
from tests.integration.conftest import postgres_database
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
from tests.integration.test_store import run_children

pytestmark = pytest.mark.integration

LEASE = 3.0  # seconds: a dead worker's job is taken over this soon after its last write
HOOKS = Path(__file__).parent / "hooks"


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'heal.db'}"
        return
    with postgres_database("mnistgrid_heal") as url:
        upgrade(url)
        yield url


@pytest.fixture
def env(database, mnist_dir, tmp_path):
    with private_redis_db() as redis_url:
        yield mnistgrid_env(
            database_url=database,
            broker_url=redis_url,
            data_dir=str(mnist_dir),
            lease_seconds=str(LEASE),
            reports_dir=str(tmp_path / "reports"),
        )


def submit(env: dict[str, str], grid: Path) -> None:
    done = run_cli(env, "submit", str(grid))  # no --wait: nobody watches
    assert done.returncode == 0, done.stderr


def finished(store: Store, name: str) -> bool:
    return store.get_sweep(name).status == "finished"


def holder(store: Store, job_id: int, started: list[Any]) -> Any:
    """The `mnistgrid worker` process whose pool child holds the job."""
    pid = int(store.get_job(job_id).worker.split(":")[1])
    return next(p for p in started if os.getpgid(pid) == p.pid)


def uninterrupted_final_acc(env: dict[str, str], spec: JobSpec) -> float:
    data = load_task(Path(env["MNISTGRID_DATA_DIR"]), Path.home() / ".cache/mnistgrid", spec.data)
    (result,) = train_jobs([spec], data)
    return result.final.valid_acc


def test_a_killed_workers_job_resumes_on_the_other_with_nobody_watching(env, tmp_path):
    store = Store(env["MNISTGRID_DATABASE_URL"])
    started = [start_worker(env, f"h{i}", tmp_path / f"h{i}.log") for i in range(2)]
    try:
        submit(env, linear_grid(tmp_path, "unwatched", 12))
        (job,) = store.sweep_jobs(store.get_sweep("unwatched").sweep_id)
        wait_until(lambda: len(epochs_of(store, job.job_id)) >= 3, 180, "three epochs")
        victim = holder(store, job.job_id, started)
        os.killpg(victim.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        victim.wait()
        stored_at_kill = len(epochs_of(store, job.job_id))
        wait_until(lambda: finished(store, "unwatched"), 240, "the sweep to finish unwatched")
        recovered = time.monotonic() - killed_at
    finally:
        for process in started:
            stop_process(process)
    final = store.get_job(job.job_id)
    assert final.status == "succeeded" and final.attempts == 2
    assert epochs_of(store, job.job_id) == list(range(1, 13))  # one row per epoch
    logs = "".join(p.read_text() for p in tmp_path.glob("h*.log"))
    assert f"job {job.job_id} attempt 2: resuming after epoch {stored_at_kill}" in logs
    spec = JobSpec.model_validate(job.params)
    assert final.final_acc == uninterrupted_final_acc(env, spec)
    print(
        f"\nSIGKILL, nobody watching: resumed after epoch {stored_at_kill} (0 whole epochs "
        f"redone); sweep finished {recovered:.1f} s after the kill (lease {LEASE:g} s)"
    )


def test_a_worker_started_later_heals_the_sweep_by_itself(env, tmp_path):
    store = Store(env["MNISTGRID_DATABASE_URL"])
    only = start_worker(env, "only", tmp_path / "only.log")
    try:
        submit(env, linear_grid(tmp_path, "alone", 8))
        (job,) = store.sweep_jobs(store.get_sweep("alone").sweep_id)
        wait_until(lambda: len(epochs_of(store, job.job_id)) >= 2, 180, "two epochs")
        dead = store.get_job(job.job_id).worker
        os.killpg(only.pid, signal.SIGKILL)
        only.wait()
        time.sleep(3 * LEASE)  # nobody is alive to notice the lease running out
        shown = run_cli(env, "status", "alone")
        assert shown.returncode == 0, shown.stderr
        assert "lost, re-sending" in shown.stdout and dead in shown.stdout, shown.stdout
        later = start_worker(env, "later", tmp_path / "later.log")
        started_at = time.monotonic()
        try:
            wait_until(lambda: finished(store, "alone"), 240, "the new worker to finish it")
            recovered = time.monotonic() - started_at
        finally:
            stop_process(later)
    finally:
        stop_process(only)
    final = store.get_job(job.job_id)
    assert final.status == "succeeded" and final.attempts == 2
    assert epochs_of(store, job.job_id) == list(range(1, 9))
    print(f"\nonly worker SIGKILLed, a new one started later: sweep done {recovered:.1f} s after")


def test_a_flushed_redis_loses_no_job(mnist_dir, tmp_path):
    url = f"sqlite:///{tmp_path / 'flush.db'}"
    with redis_server(tmp_path) as server:
        env = mnistgrid_env(
            database_url=url,
            broker_url=server.url,
            data_dir=str(mnist_dir),
            lease_seconds=str(LEASE),
            reports_dir=str(tmp_path / "reports"),
        )
        store = Store(url)
        started = [start_worker(env, f"f{i}", tmp_path / f"f{i}.log") for i in range(2)]
        try:
            submit(env, linear_grid(tmp_path, "flush", 4, "[0.1, 0.2, 0.3, 0.5, 1.0, 2.0]"))
            sweep_id = store.get_sweep("flush").sweep_id
            wait_until(
                lambda: any(j.last_epoch for j in store.sweep_jobs(sweep_id)), 180, "an epoch"
            )
            redis.Redis.from_url(server.url).flushall()  # every queued message is gone
            flushed_at = time.monotonic()
            wait_until(lambda: finished(store, "flush"), 300, "the sweep to finish unwatched")
            recovered = time.monotonic() - flushed_at
        finally:
            for process in started:
                stop_process(process)
    for job in store.sweep_jobs(sweep_id):
        assert job.status == "succeeded"
        assert epochs_of(store, job.job_id) == list(range(1, 5))
    print(f"\nFLUSHALL mid-sweep, nobody watching: sweep finished {recovered:.1f} s later")


def _reconcile_in_child(env: dict[str, str], barrier: Any, results: Any) -> None:
    settings = Settings(
        database_url=env["MNISTGRID_DATABASE_URL"], broker_url=env["MNISTGRID_BROKER_URL"]
    )
    with Store(settings.database_url) as store:
        app = make_celery(settings)
        barrier.wait()
        done = reconcile(store, app, LEASE, max_attempts=3)
        results.put([job.job_id for job in done.lost if job.requeued])


def test_three_reconcilers_at_the_same_moment_send_a_lost_job_once(env, tmp_path):
    store = Store(env["MNISTGRID_DATABASE_URL"])
    submit(env, linear_grid(tmp_path, "once", 2))
    (job,) = store.sweep_jobs(store.get_sweep("once").sweep_id)
    broker = redis.Redis.from_url(env["MNISTGRID_BROKER_URL"])
    broker.delete("cpu")  # its message was delivered...
    assert store.claim_job(job.job_id, "dead:1", 0) is not None  # ...to a worker that died
    outputs = run_children(_reconcile_in_child, [(env,)] * 3)
    assert sorted(outputs) == [[], [], [job.job_id]]
    assert broker.llen("cpu") == 1  # one task received by the broker, not three
    (message,) = broker.lrange("cpu", 0, -1)
    assert f"[[{job.job_id}]]".encode() in message


def test_a_job_that_kills_its_worker_fails_after_its_attempts(env, tmp_path):
    store = Store(env["MNISTGRID_DATABASE_URL"])
    killer = 0.123
    hooked = {**env, "PYTHONPATH": str(HOOKS), "MNISTGRID_TEST_KILL_LR": str(killer)}
    started = [start_worker(hooked, f"k{i}", tmp_path / f"k{i}.log") for i in range(2)]
    try:
        submit(env, linear_grid(tmp_path, "killer", 3, f"[{killer}, 0.5]"))
        submitted_at = time.monotonic()
        wait_until(lambda: finished(store, "killer"), 300, "the sweep to end")
        ended = time.monotonic() - submitted_at
    finally:
        for process in started:
            stop_process(process)
    jobs = {job.lr: job for job in store.sweep_jobs(store.get_sweep("killer").sweep_id)}
    assert jobs[0.5].status == "succeeded"
    assert jobs[killer].status == "failed"
    assert (jobs[killer].attempts, jobs[killer].lost_attempts) == (3, 3)
    assert re.fullmatch(
        r"its worker was lost 3 times before it stored an epoch \(last .+:\d+:[0-9a-f]{8}\); "
        r"gave up after 3 attempts \(MNISTGRID_MAX_ATTEMPTS\)",
        jobs[killer].error,
    )
    print(f"\na job that kills its worker: failed after 3 attempts, sweep ended {ended:.1f} s in")

    # `mnistgrid resume` forgives its losses: on workers that no longer die, it trains to its end.
    with workers(env, tmp_path, count=1):
        resumed = run_cli(env, "resume", "killer", "--wait", timeout=300)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    again = store.get_job(jobs[killer].job_id)
    assert (again.status, again.lost_attempts, again.error) == ("succeeded", 0, None)
    assert epochs_of(store, again.job_id) == [1, 2, 3]


def test_a_report_request_lost_with_its_worker_is_asked_again(env, tmp_path):
    store = Store(env["MNISTGRID_DATABASE_URL"])
    worker = start_worker(env, "r", tmp_path / "r.log")
    try:
        submit(env, linear_grid(tmp_path, "report", 1))
        wait_until(lambda: store.get_sweep("report").report_status == "written", 180, "a report")
        html = Path(env["MNISTGRID_REPORTS_DIR"]) / "report" / "report.html"
        html.unlink()
        # As if the worker that ended the sweep died before sending its report request.
        with store.engine.begin() as connection:
            connection.exec_driver_sql(
                "UPDATE sweeps SET report_status = 'requested', report_at = finished_at"
            )
        wait_until(lambda: store.get_sweep("report").report_status == "written", 120, "again")
    finally:
        stop_process(worker)
    assert html.exists()
    log = (tmp_path / "r.log").read_text()
    assert "the report of sweep" in log and "asking again" in log
    assert re.search(
        r"Task report: linear cross_entropy lr=0\.5 \(job \d+\)\[[\w-]+\] received", log
    )
