"""The stack of docker-compose.yml, built and run for real: `docker-compose up -d --build
--scale worker=2` runs a sweep end to end, Flower shows it behind its login, and faults
injected at container level each end with the sweep finished, one row per epoch, and the
epochs redone counted (printed with -s; docs/reliability.md has the figures).

    python -m pytest -m compose tests/compose -s

The tests share one stack and run in file order; each fault test submits its own grid.
"""

from __future__ import annotations

import ast
import base64
import csv
import json
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass
from itertools import pairwise
from statistics import median

import pytest
import yaml

from tests.compose.conftest import LEASE_SECONDS, read_env, skip_module_without_engine
from tests.compose.stack import REPO, Stack, wait_until

pytestmark = [pytest.mark.compose, pytest.mark.integration]
skip_module_without_engine()

STACK_JOBS = 3  # conftest.STACK_GRID: the baseline and two linear lrs
# About 0.5 s an epoch on one torch thread: a job lasts 20-40 s, long enough to hit mid-job.
LONG_EPOCHS = 40


def long_grid(lrs: str) -> str:
    return (
        f"fuse = false\n[train]\nepochs = {LONG_EPOCHS}\ntime_limit = 900\n"
        f'[grid]\nmodel = "linear"\nloss = "cross_entropy"\nlr = {lrs}\nbatch_size = 64\n'
    )


# -- reading the stack's database ---------------------------------------------------------------


def jobs_of(stack: Stack, sweep: str) -> list[dict]:
    return stack.query(
        "select j.job_id, j.status, j.attempts, j.worker,"
        # the baseline is fitted in one pass: one epoch row, whatever the grid says
        " case j.model when 'baseline' then 1 else (j.params->>'epochs')::int end as epochs"
        f" from jobs j join sweeps s using (sweep_id) where s.name = '{sweep}' order by j.job_id"
    )


def epochs_of(stack: Stack, sweep: str) -> list[dict]:
    return stack.query(
        "select e.job_id, e.epoch, extract(epoch from e.recorded_at)::float8 as recorded"
        " from epochs e join jobs j using (job_id) join sweeps s using (sweep_id)"
        f" where s.name = '{sweep}' order by e.job_id, e.epoch"
    )


def sweep_status(stack: Stack, sweep: str) -> str | None:
    rows = stack.query(f"select status from sweeps where name = '{sweep}'")
    return rows[0]["status"] if rows else None


def db_now(stack: Stack) -> float:
    return stack.query("select extract(epoch from now())::float8 as now")[0]["now"]


def wait_for_epochs(stack: Stack, sweep: str, count: int) -> dict:
    """A running job of `sweep` with at least `count` epochs stored."""

    def found() -> dict | None:
        stored = epochs_of(stack, sweep)
        for job in jobs_of(stack, sweep):
            epochs = [e for e in stored if e["job_id"] == job["job_id"]]
            if job["status"] == "running" and len(epochs) >= count:
                return job
        return None

    return wait_until(found, 180, f"a job of {sweep} with {count} epochs stored")


def assert_one_row_per_epoch(stack: Stack, sweep: str) -> None:
    stored = epochs_of(stack, sweep)
    for job in jobs_of(stack, sweep):
        epochs = [e["epoch"] for e in stored if e["job_id"] == job["job_id"]]
        assert epochs == list(range(1, job["epochs"] + 1)), f"job {job['job_id']}: {epochs}"


# -- faults: what was stored when it hit, and what the sweep redid ------------------------------


@dataclass(frozen=True)
class Fault:
    """A sweep's stored epochs at the moment a fault was injected (by the database's clock)."""

    name: str
    sweep: str
    at: float
    stored: dict[tuple[int, int], float]
    running: frozenset[int]

    @classmethod
    def now(cls, name: str, stack: Stack, sweep: str) -> Fault:
        stored = {cls.key(e): e["recorded"] for e in epochs_of(stack, sweep)}
        running = frozenset(j["job_id"] for j in jobs_of(stack, sweep) if j["status"] == "running")
        return cls(name, sweep, db_now(stack), stored, running)

    def report(self, stack: Stack, finished_at: float) -> int:
        """Print the fault's figures; returns how many stored epochs were trained again (a
        re-written epoch row has a new recorded_at)."""
        after = epochs_of(stack, self.sweep)
        redone = [e for e in after if self.stored.get(self.key(e), e["recorded"]) != e["recorded"]]
        times = {job: [e["recorded"] for e in after if e["job_id"] == job] for job in self.running}
        gaps = [b - a for job in self.running for a, b in pairwise(times[job])]
        # the time to recover: the longest an interrupted job went without storing an epoch
        stall = max(b - a for job in self.running for a, b in pairwise(times[job]) if b > self.at)
        print(
            f"\nFAULT {self.name}: {len(self.running)} jobs running, {len(self.stored)} epochs"
            f" stored; longest stall of a running job {stall:.1f} s (a median epoch"
            f" {median(gaps):.1f} s); sweep finished {finished_at - self.at:.1f} s after the"
            f" fault; stored epochs trained again: {len(redone)}"
        )
        return len(redone)

    @staticmethod
    def key(epoch: dict) -> tuple[int, int]:
        return epoch["job_id"], epoch["epoch"]


def wait_finished(stack: Stack, sweep: str, timeout: float) -> float:
    """Wait for the sweep to finish; returns when, by the database's clock."""
    wait_until(lambda: sweep_status(stack, sweep) == "finished", timeout, f"{sweep} to finish")
    rows = stack.query(
        f"select extract(epoch from finished_at)::float8 as t from sweeps where name = '{sweep}'"
    )
    return rows[0]["t"]


def container_of(job: dict) -> str:
    """The worker container holding a job: a worker is `hostname:pid`, and a container's
    hostname is its short id."""
    return job["worker"].split(":")[0]


# -- the sweep, end to end ----------------------------------------------------------------------


def test_up_runs_the_sweep_end_to_end(stack: Stack):
    (migrate,) = stack.containers("migrate", running=False)
    assert stack.exit_code(migrate) == 0, "the migration completed"
    (orchestrator,) = stack.containers("orchestrator", running=False)
    wait_until(lambda: stack.exit_code(orchestrator) is not None, 600, "the orchestrator to exit")
    output = stack.compose("logs", "--no-color", "orchestrator").stdout
    assert stack.exit_code(orchestrator) == 0, output
    sweep = f"{stack.prefix}-stack"
    assert f"sweep {sweep} (id 1) finished: {STACK_JOBS} succeeded" in output
    jobs = jobs_of(stack, sweep)
    assert len(jobs) == STACK_JOBS and {j["status"] for j in jobs} == {"succeeded"}
    assert_one_row_per_epoch(stack, sweep)
    assert f"report: /app/reports/{sweep}/report.html" in output


def test_the_report_lands_in_reports_on_the_host_and_is_readable(stack: Stack):
    folder = REPO / "reports" / f"{stack.prefix}-stack"
    html = (folder / "report.html").read_text()
    assert f"{stack.prefix}-stack" in html
    with (folder / "results.csv").open(newline="") as rows:
        assert len(list(csv.DictReader(rows))) == STACK_JOBS


def test_both_workers_registered(stack: Stack):
    hostnames = {c[:12] for c in stack.containers("worker")}
    assert len(hostnames) == 2
    workers = flower_json(stack, "/api/workers?refresh=1")
    assert {name.split("@")[1] for name in workers} >= hostnames


# -- Flower on its published port ---------------------------------------------------------------


def flower(stack: Stack, path: str, login: bool = True) -> tuple[int, str]:
    return published(stack, "FLOWER_PORT", "FLOWER_BASIC_AUTH", path, login)


def published(
    stack: Stack, port: str, auth: str, path: str, login: bool = True
) -> tuple[int, str]:
    """GET a path of a service on its published 127.0.0.1 port, with its login from .env."""
    env = read_env(stack)
    request = urllib.request.Request(f"http://127.0.0.1:{env[port]}{path}")
    if login:
        token = base64.b64encode(env[auth].encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, ""


def flower_json(stack: Stack, path: str) -> dict:
    status, body = flower(stack, path)
    assert status == 200, f"{path}: {status}"
    return json.loads(body)


@pytest.mark.parametrize("path", ["/", "/workers", "/tasks", "/api/workers", "/api/tasks"])
def test_flower_pages_and_api_need_the_login_from_env(stack: Stack, path: str):
    assert flower(stack, path, login=False)[0] == 401
    assert flower(stack, path)[0] == 200


def test_flower_lists_the_sweeps_tasks(stack: Stack):
    sweep = f"{stack.prefix}-stack"
    job_ids = {j["job_id"] for j in jobs_of(stack, sweep)}

    def listed() -> bool:
        # Each task is listed under its sweep and jobs (its shadow name), not its task name.
        tasks = flower_json(stack, "/api/tasks").values()
        ours = [t for t in tasks if (t.get("name") or "").startswith(f"{sweep}: ")]
        args = [ast.literal_eval(t["args"]) for t in ours]
        return job_ids <= {job for (jobs,) in args for job in jobs}

    wait_until(listed, 60, "Flower to list every task of the sweep")


def test_flower_serves_prometheus_metrics_without_login(stack: Stack):
    status, body = flower(stack, "/metrics", login=False)
    assert status == 200
    assert "# TYPE flower_events_total counter" in body
    assert flower(stack, "/healthcheck", login=False) == (200, "OK")


# -- the web view on its published port ---------------------------------------------------------


def test_the_web_view_needs_its_login_and_shows_the_sweep(stack: Stack):
    sweep = f"{stack.prefix}-stack"
    assert published(stack, "WEB_PORT", "WEB_AUTH", "/", login=False)[0] == 401
    status, body = published(stack, "WEB_PORT", "WEB_AUTH", "/api/sweeps")
    assert status == 200 and sweep in [s["name"] for s in json.loads(body)["sweeps"]]
    status, page = published(stack, "WEB_PORT", "WEB_AUTH", f"/sweeps/{sweep}")
    assert status == 200 and sweep in page


# -- the GPU profile ----------------------------------------------------------------------------


def test_the_gpu_profile_is_a_valid_configuration(stack: Stack):
    """The GPU image is not built here (no GPU): its service must still be well formed."""
    resolved = yaml.safe_load(stack.compose("--profile", "gpu", "config").stdout)
    gpu = resolved["services"]["worker-gpu"]
    assert gpu["profiles"] == ["gpu"]
    (device,) = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"]


# -- faults at container level ------------------------------------------------------------------


def test_docker_kill_of_a_worker_mid_job_heals_with_no_watcher(stack: Stack):
    """Needs "Sweeps heal themselves": the workers re-send a job whose worker died. Until
    then the job stays `running` with nobody to re-send it, and this test fails."""
    stack.scale_workers(2)
    sweep = stack.write_grid("kill", long_grid("0.5"))
    stack.submit("kill")
    job = wait_for_epochs(stack, sweep, 3)
    assert not stack.containers("orchestrator"), "no watcher runs"
    fault = Fault.now("docker kill of a worker, no watcher", stack, sweep)
    killed = container_of(job)
    subprocess.run(["docker", "kill", killed], capture_output=True, check=True)
    # a few leases for the takeover, and the job's own length (about 0.5 s an epoch)
    patience = 5 * LEASE_SECONDS + LONG_EPOCHS
    try:
        healed = heals(stack, sweep, patience)
    finally:
        if sweep_status(stack, sweep) != "finished":
            stack.compose("run", "--rm", "-T", "orchestrator", "mnistgrid", "cancel", sweep)
        stack.scale_workers(2)
    assert healed is not None, (
        f"the job is still running {patience} s after its worker container was killed with no"
        " watcher running: nothing re-sent it"
    )
    (after,) = jobs_of(stack, sweep)
    assert after["status"] == "succeeded" and after["attempts"] == 2
    assert container_of(after) != killed, "resumed on the other worker"
    assert_one_row_per_epoch(stack, sweep)
    assert fault.report(stack, healed) == 0


def heals(stack: Stack, sweep: str, patience: float) -> float | None:
    """When the sweep finished, or None if it did not within `patience` seconds."""
    try:
        return wait_finished(stack, sweep, timeout=patience)
    except AssertionError:
        return None


def test_compose_stop_worker_hands_the_job_back(stack: Stack):
    stack.scale_workers(2)
    sweep = stack.write_grid("stop", long_grid("0.5"))
    stack.submit("stop")
    wait_for_epochs(stack, sweep, 3)
    fault = Fault.now("docker-compose stop worker", stack, sweep)
    stack.compose("stop", "worker")
    (handed_back,) = jobs_of(stack, sweep)
    assert handed_back["status"] == "queued", "warm shutdown hands the job back"
    stack.compose("start", "worker")
    finished = wait_finished(stack, sweep, timeout=4 * LONG_EPOCHS)
    (after,) = jobs_of(stack, sweep)
    assert after["status"] == "succeeded" and after["attempts"] == 2
    assert_one_row_per_epoch(stack, sweep)
    assert fault.report(stack, finished) == 0


@pytest.mark.parametrize("service", ["redis", "postgres"])
def test_compose_restart_mid_sweep(stack: Stack, service: str, tmp_path):
    """Three jobs on two workers: two running and one queued when the service restarts.
    `submit --wait` watches throughout, as a user's would, and must end with exit 0."""
    stack.scale_workers(2)
    sweep = stack.write_grid(f"restart-{service}", long_grid("[0.3, 0.5, 1.0]"))
    watcher = stack.start_compose(
        *stack.submit_argv(f"restart-{service}", "--wait"), log=tmp_path / "watch.log"
    )
    try:
        wait_for_epochs(stack, sweep, 3)
        fault = Fault.now(f"docker-compose restart {service}", stack, sweep)
        stack.compose("restart", service)
        finished = wait_finished(stack, sweep, timeout=8 * LONG_EPOCHS)
        assert watcher.wait(timeout=120) == 0, (tmp_path / "watch.log").read_text()
    finally:
        if watcher.poll() is None:
            watcher.kill()
    assert {j["status"] for j in jobs_of(stack, sweep)} == {"succeeded"}
    assert_one_row_per_epoch(stack, sweep)
    assert fault.report(stack, finished) == 0


def test_down_then_up_keeps_the_state_and_resubmitting_is_a_no_op(stack: Stack):
    """Last: it takes the whole stack down (volumes kept) and brings it up again, whose
    orchestrator submits the first sweep's grid again."""
    stack.scale_workers(2)
    first = f"{stack.prefix}-stack"
    kept = epochs_of(stack, first)
    sweep = stack.write_grid("down-up", long_grid("[0.3, 0.5]"))
    stack.submit("down-up")
    wait_for_epochs(stack, sweep, 3)
    fault = Fault.now("docker-compose down, then up", stack, sweep)
    stack.down()
    assert not stack.containers("postgres", running=False)
    stack.up()
    (orchestrator,) = stack.containers("orchestrator", running=False)
    wait_until(lambda: stack.exit_code(orchestrator) is not None, 300, "the orchestrator to exit")
    output = stack.compose("logs", "--no-color", "orchestrator").stdout
    assert stack.exit_code(orchestrator) == 0, output
    assert f"sweep {first} already submitted: id 1, {STACK_JOBS} jobs, 0 tasks queued" in output
    assert epochs_of(stack, first) == kept, "the first sweep is as it was"
    finished = wait_finished(stack, sweep, timeout=8 * LONG_EPOCHS)
    assert {j["status"] for j in jobs_of(stack, sweep)} == {"succeeded"}
    assert_one_row_per_epoch(stack, sweep)
    assert fault.report(stack, finished) == 0
