"""The docker-compose topology as local processes: a password-protected Redis, a fresh PostgreSQL
database migrated by `mnistgrid db upgrade`, two workers, Flower behind basic auth, and the
orchestrator's `mnistgrid submit GRID --wait`. Then: the report is written, the database holds
every epoch, and Flower shows both workers and every task, but only to a logged-in client.

    python -m pytest tests/integration/test_stack.py -m integration
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
import redis

from db.store import Store
from mnistgrid.report import report_paths
from mnistgrid.routing import TRAIN_TASK
from tests.integration.conftest import postgres_database
from tests.integration.services import (
    free_port,
    mnistgrid_env,
    redis_server,
    run_cli,
    stop_process,
    wait_until,
    workers,
)

pytestmark = pytest.mark.integration

GRID = """
name = "stack"
fuse = false

[train]
epochs = 2
time_limit = 300

[grid]
model = ["baseline", "linear", "mlp"]
distance = ["mse"]
loss = ["cross_entropy"]
lr = [0.5, 1.0]
hidden = [16]
batch_size = [512]
"""
# 1 baseline + 2 linear lrs + 2 mlp lrs = 5 jobs, one task each (fuse = false)
N_JOBS = 5
FLOWER_USER = "admin"


def start_logged(argv: list[str], env: Mapping[str, str], log: Path) -> subprocess.Popen:
    with log.open("wb") as out:
        return subprocess.Popen(
            argv, env=dict(env), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


@contextmanager
def flower(env: Mapping[str, str], folder: Path, login: str) -> Iterator[str]:
    """Flower as the compose service runs it (the login in FLOWER_BASIC_AUTH), on a free port."""
    port = free_port()
    argv = [sys.executable, "-m", "celery", "--app", "workers.celery_app", "flower"]
    argv += ["--address=127.0.0.1", f"--port={port}", "--persistent=True"]
    argv += [f"--db={folder / 'flower.db'}", "--purge_offline_workers=3600"]
    # Flower reads FLOWER_* variables as options: none from this shell may open its API.
    clean = {key: value for key, value in env.items() if not key.startswith("FLOWER_")}
    process = start_logged(argv, {**clean, "FLOWER_BASIC_AUTH": login}, folder / "flower.log")
    base = f"http://127.0.0.1:{port}"
    try:
        # Generous: Flower imports the app (torch among it), slow on a loaded 2-core machine.
        wait_until(lambda: get(f"{base}/healthcheck")[0] == 200, 120, "Flower to answer")
        yield base
    finally:
        stop_process(process)


def get(url: str, login: str | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url)
    if login is not None:
        request.add_header("Authorization", "Basic " + base64.b64encode(login.encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, ""
    except OSError:
        return 0, ""


def get_json(url: str, login: str) -> dict:
    status, body = get(url, login)
    return json.loads(body) if status == 200 else {}


def log_tails(folder: Path) -> str:
    return "\n".join(
        f"--- {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        for log in sorted(folder.glob("*.log"))
    )


def test_the_stack_runs_a_grid_and_flower_shows_it_behind_a_login(mnist_dir, tmp_path):
    login = f"{FLOWER_USER}:{secrets.token_hex(8)}"
    password = secrets.token_hex(12)
    grid = tmp_path / "grid.toml"
    grid.write_text(GRID)
    reports_dir = tmp_path / "reports"
    with ExitStack() as stack:
        broker_url = stack.enter_context(redis_server(tmp_path, password)).url
        database_url = stack.enter_context(postgres_database())
        env = mnistgrid_env(
            database_url=database_url,
            broker_url=broker_url,
            data_dir=str(mnist_dir),
            reports_dir=str(reports_dir),
        )
        migrated = run_cli(env, "db", "upgrade", timeout=120)
        assert migrated.returncode == 0, migrated.stderr
        # Flower first: it only knows the events sent while it listens.
        base = stack.enter_context(flower(env, tmp_path, login))
        stack.enter_context(workers(env, tmp_path))
        done = run_cli(env, "submit", str(grid), "--wait", timeout=300)
        assert done.returncode == 0, done.stderr + done.stdout + log_tails(tmp_path)

        # The worker that finished the last job writes the report, just after the sweep ends.
        sweep_id = Store(database_url).get_sweep("stack").sweep_id
        report = report_paths(reports_dir, "stack", sweep_id).html
        wait_until(report.exists, 60, f"{report}\n{log_tails(tmp_path)}")
        job_ids = assert_every_epoch_stored(database_url)
        assert_flower_shows_workers_and_tasks(base, login, job_ids)
        assert_flower_refuses_strangers(base)
        with pytest.raises(redis.AuthenticationError):
            redis.Redis.from_url(broker_url.replace(f":{password}@", "")).ping()


def assert_every_epoch_stored(database_url: str) -> set[int]:
    with Store(database_url) as store:
        sweep = store.get_sweep("stack")
        jobs = store.sweep_jobs(sweep.sweep_id)
        epochs = store.sweep_epochs(sweep.sweep_id)
    assert sweep.status == "finished" and len(jobs) == N_JOBS
    assert {job.status for job in jobs} == {"succeeded"}
    for job in jobs:
        expected = [1] if job.model == "baseline" else [1, 2]
        assert [e.epoch for e in epochs[job.job_id]] == expected
    return {job.job_id for job in jobs}


def assert_flower_shows_workers_and_tasks(base: str, login: str, job_ids: set[int]) -> None:
    """Flower ingests events as they come: poll until it has caught up with the sweep."""

    def both_workers() -> bool:
        names = get_json(f"{base}/api/workers?refresh=1", login)
        return {name.split("@")[0] for name in names} >= {"w0", "w1"}

    def every_task_succeeded() -> bool:
        tasks = get_json(f"{base}/api/tasks", login).values()
        # Listed under their sweep and jobs (Celery's shadow name), not as TRAIN_TASK.
        ours = [t for t in tasks if (t.get("name") or "").startswith("stack: ")]
        assert all(TRAIN_TASK not in (t.get("name") or "") for t in tasks)
        trained = {int(n) for t in ours for n in re.findall(r"\d+", t.get("args") or "")}
        return trained == job_ids and {t["state"] for t in ours} == {"SUCCESS"}

    wait_until(both_workers, 60, "Flower to list both workers", poll=1)
    wait_until(every_task_succeeded, 60, "Flower to show every task as SUCCESS", poll=1)


def assert_flower_refuses_strangers(base: str) -> None:
    for path in ("/api/workers", "/api/tasks", "/"):
        assert get(base + path)[0] == 401, f"{path} without a login"
        assert get(base + path, f"{FLOWER_USER}:wrong")[0] == 401, f"{path}, bad password"
    # Open by design in Flower 2.x, hence the stack keeps port 5555 off public networks.
    status, metrics = get(f"{base}/metrics")
    assert status == 200 and "flower_events_total" in metrics
