"""One docker-compose project of the real docker-compose.yml (plus the test override), and
what the tests ask of it: compose commands, SQL in its PostgreSQL container, sweeps.

    python -m pytest -m compose tests/compose
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
OVERRIDE = Path(__file__).resolve().parent / "override.yml"
# What .env's COMPOSE_FILE adds to publish Redis and PostgreSQL over TLS ("Add a machine").
PUBLISH = REPO / "docker-compose.publish.yml"


class QueryFailed(RuntimeError):
    """The SQL could not run (PostgreSQL restarting, or its container gone)."""


def wait_until(condition: Callable[[], object], timeout: float, what: str) -> object:
    """Poll `condition` until it returns something true; a QueryFailed counts as not yet."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            found = condition()
        except QueryFailed:
            found = None
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(1)


@dataclass
class Stack:
    project: str
    env_file: Path
    grids: Path  # mounted at /grids in the orchestrator
    prefix: str  # of every sweep name: their reports land in the repository's ./reports
    # The compose files, in order: the main stack's and the tests' override by default; a
    # worker host's (docker-compose.workers.yml) and its override for the second "machine".
    files: tuple[Path, ...] = (REPO / "docker-compose.yml", OVERRIDE)

    @property
    def published(self) -> bool:
        return PUBLISH in self.files

    def compose_argv(self, *args: str) -> list[str]:
        files = [argument for path in self.files for argument in ("-f", str(path))]
        return ["docker-compose", "-p", self.project, "--env-file", str(self.env_file), *files]

    def compose(
        self, *args: str, timeout: float = 300, check: bool = True
    ) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [*self.compose_argv(), *args],
            cwd=REPO,
            env=compose_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"docker-compose {' '.join(args)} failed:\n{done.stderr[-3000:]}")
        return done

    def start_compose(self, *args: str, log: Path) -> subprocess.Popen:
        """A compose command left running (a watcher), its output in `log`."""
        with log.open("wb") as out:
            return subprocess.Popen(
                [*self.compose_argv(), *args],
                cwd=REPO,
                env=compose_env(),
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def up(self, timeout: float = 1500) -> None:
        """What docs/stack.md tells a user to type, two workers included."""
        self.compose("up", "-d", "--build", "--scale", "worker=2", timeout=timeout)

    def env(self) -> dict[str, str]:
        lines = self.env_file.read_text().splitlines()
        return dict(line.split("=", 1) for line in lines if "=" in line)

    def set_env(self, **values: object) -> None:
        """Change .env as a user would: the next `up` recreates what uses the changes."""
        env = self.env() | {key: str(value) for key, value in values.items()}
        self.env_file.write_text("".join(f"{key}={value}\n" for key, value in env.items()))

    def publish(self, **where: object) -> None:
        """.env asks to publish Redis and PostgreSQL over TLS (the addresses, ports and
        TLS_DIR in `where`): as COMPOSE_FILE would, the publishing file joins the others."""
        self.set_env(**where)
        if not self.published:
            self.files = (*self.files, PUBLISH)

    def containers(self, service: str, running: bool = True) -> list[str]:
        labels = [f"com.docker.compose.project={self.project}"]
        labels.append(f"com.docker.compose.service={service}")
        argv = ["docker", "ps", "-q", "--no-trunc", *(["--all"] * (not running))]
        for label in labels:
            argv += ["--filter", f"label={label}"]
        return subprocess.run(argv, capture_output=True, text=True, check=True).stdout.split()

    def project_containers(self) -> dict[str, str]:
        """Every container of the project, running or not: id -> service."""
        label = f"label=com.docker.compose.project={self.project}"
        fields = '{{.ID}} {{.Label "com.docker.compose.service"}}'
        argv = ["docker", "ps", "--all", "--no-trunc", "--filter", label, "--format", fields]
        lines = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
        return dict(line.split() for line in lines.splitlines())

    def exit_code(self, container: str) -> int | None:
        """None while it runs."""
        state = json.loads(docker("inspect", "--format", "{{json .State}}", container).stdout)
        return None if state["Running"] else state["ExitCode"]

    def query(self, sql: str) -> list[dict]:
        """Rows of `sql`, run by psql inside the postgres container."""
        found = self.containers("postgres")
        if not found:
            raise QueryFailed("the postgres container is not running")
        as_json = f"select coalesce(json_agg(q), '[]'::json) from ({sql}) q"
        psql = ["psql", "-U", "mnistgrid", "-d", "mnistgrid", "-At", "-v", "ON_ERROR_STOP=1"]
        done = docker("exec", found[0], *psql, "-c", as_json)
        if done.returncode != 0:
            raise QueryFailed(done.stderr.strip())
        return json.loads(done.stdout)

    def execute(self, statement: str) -> None:
        """Run SQL as the owner, by psql inside the postgres container."""
        (postgres,) = self.containers("postgres")
        psql = ["psql", "-U", "mnistgrid", "-d", "mnistgrid", "-v", "ON_ERROR_STOP=1"]
        done = docker("exec", postgres, *psql, "-c", statement)
        assert done.returncode == 0, done.stderr

    def write_grid(self, name: str, body: str) -> str:
        """The grid /grids/NAME.toml for the orchestrator; returns its sweep's name."""
        sweep = f"{self.prefix}-{name}"
        (self.grids / f"{name}.toml").write_text(f'name = "{sweep}"\n{body}')
        return sweep

    def submit_argv(self, name: str, *options: str) -> list[str]:
        grid = f"/grids/{name}.toml"
        return ["run", "--rm", "-T", "orchestrator", "mnistgrid", "submit", grid, *options]

    def submit(self, name: str) -> None:
        """`mnistgrid submit` with no --wait: nothing watches the sweep afterwards."""
        self.compose(*self.submit_argv(name))

    def scale_workers(self, count: int = 2) -> None:
        """Back to `count` running workers (a killed or stopped container started again)."""
        scale = ("--no-build", "--no-recreate", "--no-deps", "--scale", f"worker={count}")
        self.compose("up", "-d", *scale, "worker")

    def logs(self) -> str:
        return self.compose("logs", "--no-color", "--timestamps", check=False).stdout

    def down(self, *args: str) -> None:
        self.compose("down", *args, timeout=600)


def docker(*argv: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *argv], capture_output=True, text=True, timeout=timeout)


def inspect(container: str) -> dict:
    """`docker inspect` of one container."""
    done = docker("inspect", container)
    assert done.returncode == 0, done.stderr
    (found,) = json.loads(done.stdout)
    return found


def run_python(container: str, script: str) -> object:
    """What `script`, run by the container's python, prints as JSON on its last line."""
    done = docker("exec", container, "python", "-c", script)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


def compose_env() -> dict[str, str]:
    """Only what docker-compose needs: a variable exported in the caller's shell (a
    PIP_FIND_LINKS, a proxy) must not reach the stack past its .env file."""
    keep = ("PATH", "HOME", "DOCKER_HOST", "DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY")
    return {key: os.environ[key] for key in keep if key in os.environ}
