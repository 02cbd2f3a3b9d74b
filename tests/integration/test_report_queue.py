"""The report lands on the main host: a worker host's workers (`mnistgrid worker --no-reports`)
train, but a finished sweep's report is asked for on the report queue, which only the main
host's workers take, however the sweep ended and wherever `submit --wait` runs; a wait with no
such worker up says so, and ends once one has written the report.

    python -m pytest tests/integration/test_report_queue.py

Two "hosts" on one machine: two reports folders, the worker host's worker started first and
alone, so that it ends every job of the sweep; the main host's worker starts only after.
"""

from __future__ import annotations

import pytest
import redis

from db.store import Store
from orchestrator.progress import NO_WORKER_GRACE
from tests.integration.services import (
    cli_running,
    linear_grid,
    mnistgrid_env,
    private_redis_db,
    run_cli,
    sqlite_env,
    start_worker,
    stop_process,
    wait_until,
)

pytestmark = pytest.mark.integration

REPORT_NOTICE = "no worker has checked in on queue report"


def test_a_worker_hosts_sweep_is_reported_by_the_main_hosts_worker(mnist_dir, tmp_path):
    main_reports, worker_host_reports = tmp_path / "main-reports", tmp_path / "host2-reports"
    database = f"sqlite:///{tmp_path / 'store.db'}"
    with private_redis_db() as redis_url:
        env = mnistgrid_env(database_url=database, broker_url=redis_url, data_dir=str(mnist_dir))
        main_env = {**env, "MNISTGRID_REPORTS_DIR": str(main_reports)}
        host2_env = {**env, "MNISTGRID_REPORTS_DIR": str(worker_host_reports)}
        grid = linear_grid(tmp_path, "elsewhere", 2, "[0.5, 1.0]")
        assert run_cli(host2_env, "submit", str(grid)).returncode == 0
        host2 = start_worker(host2_env, "host2", tmp_path / "host2.log", "--no-reports")
        main = None
        try:
            store = Store(database)
            sweep = store.get_sweep("elsewhere")
            wait_until(lambda: store.get_sweep("elsewhere").status == "finished", 120, "jobs")
            # the request waits on the report queue: the worker host's worker never takes it
            broker = redis.Redis.from_url(redis_url)
            wait_until(lambda: broker.llen("report") == 1, 10, "the report request")
            assert store.get_sweep("elsewhere").report_status == "requested"
            assert broker.llen("cpu") == 0
            main = start_worker(main_env, "main", tmp_path / "main.log")
            wait_until(lambda: store.get_sweep("elsewhere").report_status == "written", 120, "it")
            # `submit --wait` on the worker host: the same grid finds its sweep, and says where
            waited = run_cli(host2_env, "submit", str(grid), "--wait")
        finally:
            for process in (host2, main):
                if process is not None:
                    stop_process(process)
    assert (main_reports / "elsewhere" / "report.html").is_file()
    assert not worker_host_reports.exists()
    assert waited.returncode == 0, waited.stdout + waited.stderr
    assert "report: written on the main host " in waited.stdout, waited.stdout
    assert "as elsewhere/report.html in its reports folder" in waited.stdout
    assert {job.status for job in store.sweep_jobs(sweep.sweep_id)} == {"succeeded"}
    host2_log = (tmp_path / "host2.log").read_text()
    assert "Task mnistgrid.write_report[" not in host2_log  # (its banner lists the task)
    assert "Task mnistgrid.write_report[" in (tmp_path / "main.log").read_text()


def test_submit_wait_says_when_no_worker_takes_the_report_and_ends_when_one_does(
    mnist_dir, tmp_path
):
    reports = tmp_path / "reports"
    with sqlite_env(tmp_path, mnist_dir, "store") as env:
        grid = linear_grid(tmp_path, "unreported", 1)
        host2 = start_worker(env, "host2", tmp_path / "host2.log", "--no-reports")
        main = None
        try:
            with cli_running(env, "submit", str(grid), "--wait") as (waiting, lines):
                wait_until(
                    lambda: any(REPORT_NOTICE in line for line in lines),
                    NO_WORKER_GRACE + 120,
                    "the wait to say that no worker takes the report queue",
                )
                main = start_worker(env, "main", tmp_path / "main.log")
                assert waiting.wait(timeout=120) == 0, "".join(lines)
        finally:
            for process in (host2, main):
                if process is not None:
                    stop_process(process)
    output = "".join(lines)
    assert output.count(REPORT_NOTICE) == 1, output
    assert "`mnistgrid report unreported` writes it here" in output
    assert f"report: {reports / 'unreported' / 'report.html'}" in output, output
