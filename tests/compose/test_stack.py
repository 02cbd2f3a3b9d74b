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
import secrets
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass
from itertools import pairwise
from statistics import median

import pytest
import yaml
from sqlalchemy.engine import make_url

from tests.compose.conftest import LEASE_SECONDS, read_env, skip_module_without_engine
from tests.compose.stack import REPO, Stack, docker, inspect, run_python, wait_until
from tests.integration.test_readonly_role import WRITES

pytestmark = [pytest.mark.compose, pytest.mark.integration]
skip_module_without_engine()

STACK_JOBS = 3  # conftest.STACK_GRID: the baseline and two linear lrs
# About 0.5 s an epoch on one torch thread: a job lasts 20-40 s, long enough to hit mid-job.
LONG_EPOCHS = 40


def long_grid(lrs: str, epochs: int = LONG_EPOCHS) -> str:
    return (
        f"fuse = false\n[train]\nepochs = {epochs}\ntime_limit = 900\n"
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


@pytest.fixture
def orchestrated(stack: Stack) -> str:
    """The orchestrator's output once it exited: its sweep ended and the report was written
    (what a test selected alone must wait for; run after the first, it is there)."""
    (orchestrator,) = stack.containers("orchestrator", running=False)
    wait_until(lambda: stack.exit_code(orchestrator) is not None, 600, "the orchestrator to exit")
    output = stack.compose("logs", "--no-color", "orchestrator").stdout
    assert stack.exit_code(orchestrator) == 0, output
    return output


def test_up_runs_the_sweep_end_to_end(stack: Stack, orchestrated: str):
    (migrate,) = stack.containers("migrate", running=False)
    assert stack.exit_code(migrate) == 0, "the migration completed"
    sweep = f"{stack.prefix}-stack"
    assert f"sweep {sweep} (id 1) finished: {STACK_JOBS} succeeded" in orchestrated
    jobs = jobs_of(stack, sweep)
    assert len(jobs) == STACK_JOBS and {j["status"] for j in jobs} == {"succeeded"}
    assert_one_row_per_epoch(stack, sweep)
    assert f"report: /app/reports/{sweep}/report.html" in orchestrated


def test_the_report_lands_in_reports_on_the_host_and_is_readable(stack: Stack, orchestrated: str):
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


def test_the_web_view_needs_its_login_and_shows_the_sweep(stack: Stack, orchestrated: str):
    sweep = f"{stack.prefix}-stack"
    assert published(stack, "WEB_PORT", "WEB_AUTH", "/", login=False)[0] == 401
    status, body = published(stack, "WEB_PORT", "WEB_AUTH", "/api/sweeps")
    assert status == 200 and sweep in [s["name"] for s in json.loads(body)["sweeps"]]
    status, page = published(stack, "WEB_PORT", "WEB_AUTH", f"/sweeps/{sweep}")
    assert status == 200 and sweep in page


# -- least privilege: placeholders, roles, ACL users, command lines ----------------------------


def test_a_placeholder_left_in_env_stops_the_stack_naming_it(stack: Stack, tmp_path):
    """docs/stack.md's `up` with two secrets still at .env.example's change-me, as another
    project on the same images: only check-env runs, fails, and names both in one line."""
    env = read_env(stack) | {
        "POSTGRES_READONLY_PASSWORD": "change-me",
        "FLOWER_BASIC_AUTH": "admin:change-me",
    }
    (tmp_path / "env").write_text("".join(f"{key}={value}\n" for key, value in env.items()))
    other = Stack(f"{stack.project}-placeholder", tmp_path / "env", stack.grids, stack.prefix)
    try:
        up = other.compose("up", "-d", "--no-build", "--scale", "worker=2", check=False)
        logs = other.compose("logs", "--no-color", "check-env").stdout
        created = set(other.project_containers().values())
    finally:
        other.down("--volumes", "--remove-orphans")
    assert up.returncode != 0, "the stack started with change-me in .env"
    errors = [line for line in logs.splitlines() if "error:" in line]
    assert len(errors) == 1 and errors[0].endswith(
        "error: .env still holds the placeholder change-me in FLOWER_BASIC_AUTH"
        " POSTGRES_READONLY_PASSWORD: replace each with a secret of its own (docs/stack.md,"
        ' "Credentials")'
    ), logs
    assert created == {"check-env"}, f"started despite the placeholders: {created}"


def environment(container: str) -> dict[str, str]:
    return dict(item.split("=", 1) for item in inspect(container)["Config"]["Env"])


def passwords_of(stack: Stack) -> dict[str, str]:
    """Every password of the stack's .env (of a login, the part after `user:`)."""
    env = read_env(stack)
    found = {
        k: env[k] for k in ("REDIS_PASSWORD", "POSTGRES_PASSWORD", "POSTGRES_READONLY_PASSWORD")
    }
    return found | {k: env[k].split(":", 1)[1] for k in ("FLOWER_BASIC_AUTH", "WEB_AUTH")}


def test_flower_holds_the_broker_only_and_web_the_readonly_role_only(stack: Stack):
    passwords = passwords_of(stack)
    (flower,) = stack.containers("flower")
    env = environment(flower)
    assert {key for key in env if key.startswith("MNISTGRID_")} == {"MNISTGRID_BROKER_URL"}
    for name in ("POSTGRES_PASSWORD", "POSTGRES_READONLY_PASSWORD", "WEB_AUTH"):
        assert not any(passwords[name] in value for value in env.values()), f"{name} in Flower"
    (web,) = stack.containers("web")
    env = environment(web)
    assert "MNISTGRID_BROKER_URL" not in env
    assert make_url(env["MNISTGRID_DATABASE_URL"]).username == "mnistgrid_readonly"
    for name in ("REDIS_PASSWORD", "POSTGRES_PASSWORD", "FLOWER_BASIC_AUTH"):
        assert not any(passwords[name] in value for value in env.values()), f"{name} in web"


def readonly_probe(writes: dict[str, str]) -> str:
    """Python for the web container: who its database URL logs in as, what it reads, and the
    error of each write tried in a read-write transaction ("done" if one went through)."""
    return f"""
import json, os, psycopg
from sqlalchemy.engine import make_url
url = make_url(os.environ["MNISTGRID_DATABASE_URL"]).set(drivername="postgresql")
found = {{}}
with psycopg.connect(url.render_as_string(hide_password=False), autocommit=True) as db:
    found["user"] = db.execute("select current_user").fetchone()[0]
    found["read only"] = db.execute("show default_transaction_read_only").fetchone()[0]
    found["sweeps"] = db.execute("select count(*) from sweeps").fetchone()[0]
    for what, statement in {writes!r}.items():
        try:
            with db.transaction():
                db.execute("SET TRANSACTION READ WRITE")
                db.execute(statement)
            found[what] = "done"
        except psycopg.Error as error:
            found[what] = type(error).__name__
print(json.dumps(found))
"""


def test_the_web_views_database_role_reads_and_cannot_write(stack: Stack):
    """Through the web container's own URL: SELECT only; INSERT, UPDATE, DELETE, TRUNCATE and
    DDL are refused by privilege, not merely by its read-only default transactions."""
    (web,) = stack.containers("web")
    found = run_python(web, readonly_probe(WRITES))
    assert found.pop("user") == "mnistgrid_readonly"
    assert found.pop("read only") == "on"
    assert found.pop("sweeps") >= 1
    assert found == dict.fromkeys(WRITES, "InsufficientPrivilege")


# What an ACL user of the queue must not run; each would wipe, reconfigure or stall Redis.
DANGEROUS = [
    "FLUSHALL",
    "FLUSHDB",
    "CONFIG GET maxmemory",
    "CONFIG SET maxmemory 1",
    "DEBUG SLEEP 0",
    "KEYS *",
    "ACL SETUSER mnistgrid +@all",
]
REDIS_PROBE = f"""
import json, os, redis
from redis.backoff import NoBackoff
from redis.retry import Retry
client = redis.Redis.from_url(os.environ["MNISTGRID_BROKER_URL"], socket_timeout=10)
found = {{"whoami": client.execute_command("ACL", "WHOAMI").decode()}}
for command in {DANGEROUS!r}:
    try:
        client.execute_command(*command.split())
        found[command] = "done"
    except redis.ResponseError as error:
        found[command] = f"{{type(error).__name__}}: {{error}}"
password = client.connection_pool.connection_kwargs["password"]
for who, login in [("default", {{"password": password}}), ("nobody", {{}})]:
    try:
        # no retries: a refused login is an answer, not an outage
        redis.Redis(host="redis", socket_timeout=10, retry=Retry(NoBackoff(), 0), **login).ping()
        found[who] = "done"
    except redis.RedisError as error:
        found[who] = type(error).__name__
print(json.dumps(found))
"""


def test_the_apps_redis_user_is_refused_the_dangerous_commands(stack: Stack):
    """As the workers log in (their broker URL), which ran the first sweep end to end."""
    assert sweep_status(stack, f"{stack.prefix}-stack") == "finished"
    (worker, *_) = stack.containers("worker")
    found = run_python(worker, REDIS_PROBE)
    assert found.pop("whoami") == "mnistgrid"
    # Redis refuses DEBUG to every client before its ACL is asked (enable-debug-command no).
    debug = found.pop("DEBUG SLEEP 0")
    assert debug.startswith("NoPermissionError") or "DEBUG command not allowed" in debug
    assert {command: error.split(":")[0] for command, error in found.items()} == {
        **dict.fromkeys(set(DANGEROUS) - {"DEBUG SLEEP 0"}, "NoPermissionError"),
        "default": "AuthenticationError",  # the default user is off, whatever the password
        "nobody": "AuthenticationError",
    }


def test_no_password_stands_on_any_command_line(stack: Stack):
    """Of every container, as Docker started it (`docker inspect`: argv, healthcheck) and, while
    it runs, every process in it (`docker top` and /proc/*/cmdline inside)."""
    passwords = passwords_of(stack)
    seen = {}
    for container, service in stack.project_containers().items():
        state = inspect(container)
        config = state["Config"]
        started = [state["Path"], state["Args"], config["Cmd"], config["Entrypoint"]]
        lines = [json.dumps([*started, config.get("Healthcheck")])]
        if state["State"]["Running"]:
            top = docker("top", container, "-eo", "pid,args")
            assert top.returncode == 0, top.stderr
            cmdlines = "for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < $f; echo; done"
            lines += [top.stdout, docker("exec", container, "sh", "-c", cmdlines).stdout]
        seen[service] = seen.get(service, "") + "\n".join(lines)
        leaked = [name for name, value in passwords.items() if value in seen[service]]
        assert not leaked, f"{service}: {leaked} on a command line:\n{seen[service]}"
    assert "redis-server" in seen["redis"] and "flower" in seen["flower"]
    assert "serve" in seen["web"] and "worker" in seen["worker"]


# -- publishing: off by default ----------------------------------------------------------------

# Python for a container: which of these address:port pairs accept a TCP connection.
CONNECT_PROBE = """
import json, socket, sys
found = {}
for target in sys.argv[1:]:
    host, port = target.rsplit(":", 1)
    try:
        socket.create_connection((host, int(port)), timeout=3).close()
        found[target] = "open"
    except OSError as error:
        found[target] = type(error).__name__
print(json.dumps(found))
"""


def reachable_from(network: str, targets: list[str]) -> dict[str, str]:
    """What a container on `network` (not a service of the stack) can connect to."""
    argv = ["run", "--rm", "--network", network, "--entrypoint", "python", "mnistgrid:latest"]
    done = docker(*argv, "-c", CONNECT_PROBE, *targets)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_with_publishing_off_nothing_listens_beyond_the_compose_network(stack: Stack):
    """The default .env publishes neither Redis nor PostgreSQL: the project binds no host port
    but Flower's and the web view's, both on 127.0.0.1, and a container on another Docker
    network (where another machine would be) reaches neither server, which a container on
    the compose network does."""
    if stack.published:
        pytest.skip("the stack publishes Redis and PostgreSQL now (test_stack_hosts.py)")
    env = read_env(stack)
    bound = {}
    for container, service in stack.project_containers().items():
        ports = inspect(container)["NetworkSettings"]["Ports"] or {}
        for bindings in ports.values():
            for binding in bindings or []:
                bound.setdefault(service, set()).add(f"{binding['HostIp']}:{binding['HostPort']}")
    assert bound == {
        "flower": {f"127.0.0.1:{env['FLOWER_PORT']}"},
        "web": {f"127.0.0.1:{env['WEB_PORT']}"},
    }
    targets, network = [], ""
    for service, port in (("redis", 6379), ("postgres", 5432)):
        (container,) = stack.containers(service)
        ((network, settings),) = inspect(container)["NetworkSettings"]["Networks"].items()
        targets.append(f"{settings['IPAddress']}:{port}")
    assert reachable_from(network, targets) == dict.fromkeys(targets, "open")
    outside = reachable_from("bridge", targets)
    assert "open" not in outside.values(), outside


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


def test_down_then_up_publishing_keeps_the_state_and_resubmitting_is_a_no_op(
    stack: Stack, publishing: dict[str, str]
):
    """Last: it takes the whole stack down (volumes kept) and brings it up again, whose
    orchestrator submits the first sweep's grid again. Meanwhile the web view's role is
    dropped, as on a volume made before it existed, and its password changed in .env: the
    migration of the next `up` must make it again, with the new password. And .env now asks
    to publish Redis and PostgreSQL for a second machine (docs/stack.md, "Add a machine"): the
    stack comes back speaking TLS only, every service checking the servers' certificates, and
    the sweep stopped by `down` ends on it (test_stack_hosts.py goes on from here)."""
    stack.scale_workers(2)
    first = f"{stack.prefix}-stack"
    kept = epochs_of(stack, first)
    sweep = stack.write_grid("down-up", long_grid("[0.3, 0.5]"))
    stack.submit("down-up")
    wait_for_epochs(stack, sweep, 3)
    fault = Fault.now("docker-compose down, then up", stack, sweep)
    stack.compose("stop", "web")
    stack.execute("DROP OWNED BY mnistgrid_readonly; DROP ROLE mnistgrid_readonly")
    stack.set_env(POSTGRES_READONLY_PASSWORD=secrets.token_hex(16))
    stack.down()
    assert not stack.containers("postgres", running=False)
    stack.publish(**publishing)
    stack.up()
    migrated = stack.compose("logs", "--no-color", "migrate").stdout
    assert "role mnistgrid_readonly may read the 6 tables of schema public" in migrated

    def web_reads() -> bool:
        try:
            return published(stack, "WEB_PORT", "WEB_AUTH", "/api/sweeps")[0] == 200
        except OSError:  # not listening yet
            return False

    wait_until(web_reads, 120, "the web view to read through its re-made role")
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
    # Every client of PostgreSQL now comes over TLS (workers, web view, healers), and Redis
    # answers TLS only: the workers took their tasks through it.
    tcp = stack.query(
        "select a.usename, s.ssl from pg_stat_ssl s join pg_stat_activity a using (pid)"
        " where a.client_addr is not null"
    )
    assert "mnistgrid" in {row["usename"] for row in tcp}, tcp
    assert all(row["ssl"] for row in tcp), tcp
