"""Real services for integration tests: a private Redis database and `mnistgrid worker`
subprocesses, cleaned up whatever happens."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path

import redis

from db.migrate import upgrade
from db.store import Store
from mnistgrid.cli.commands.worker_work import worker_argv

REDIS = "redis://127.0.0.1:6379"


@contextmanager
def private_redis_db() -> Iterator[str]:
    """A Redis database number no other test is using, flushed before and after. A number
    that some client is still connected to (a worker an earlier test left behind, say) comes
    last: that worker would take this test's messages."""
    client = redis.Redis.from_url(REDIS)
    connected = {int(c["db"]) for c in client.client_list() if c.get("db") is not None}
    for number in sorted(range(15, 0, -1), key=lambda n: (n in connected, -n)):
        if client.set(f"mnistgrid-test-lock-{number}", os.getpid(), nx=True, ex=900):
            url = f"{REDIS}/{number}"
            redis.Redis.from_url(url).flushdb()
            try:
                yield url
            finally:
                redis.Redis.from_url(url).flushdb()
                client.delete(f"mnistgrid-test-lock-{number}")
            return
    raise RuntimeError("no free Redis database for this test")


def mnistgrid_env(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MNISTGRID_")}
    env["MNISTGRID_TORCH_THREADS"] = os.environ.get("MNISTGRID_TORCH_THREADS", "0")
    env.update({f"MNISTGRID_{k.upper()}": str(v) for k, v in settings.items()})
    env["PYTHONUNBUFFERED"] = "1"
    return env


@contextmanager
def sqlite_env(folder: Path, mnist_dir: Path, name: str) -> Iterator[dict[str, str]]:
    """The settings a CLI and its workers share: a SQLite store `name`.db in `folder`, at this
    mnistgrid's schema, a private Redis database, the real MNIST, reports in `folder`/reports."""
    database_url = f"sqlite:///{folder / f'{name}.db'}"
    upgrade(database_url)
    with private_redis_db() as redis_url:
        yield mnistgrid_env(
            database_url=database_url,
            broker_url=redis_url,
            data_dir=str(mnist_dir),
            reports_dir=str(folder / "reports"),
        )


def start_worker(env: Mapping[str, str], name: str, log: Path, *extra: str) -> subprocess.Popen:
    """One `mnistgrid worker` on the cpu queue with one torch thread, logging to `log`."""
    argv = worker_argv(f"{name}@%h", "cpu", "info", "--threads", "1", *extra)
    with log.open("wb") as out:
        return subprocess.Popen(
            argv, env=dict(env), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def stop_process(
    process: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 30
) -> None:
    """Stop a process as `docker stop` does: `sig` to the main process alone, whose warm
    shutdown lets its pool children finish (a signal to the whole group would kill a child
    mid-task); SIGKILL to everything it started if it is not gone within `timeout`."""
    if process.poll() is None:
        process.send_signal(sig)
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=timeout)
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # whatever outlived the main process
    process.wait()


@contextmanager
def workers(
    env: Mapping[str, str], logs: Path, count: int = 2
) -> Iterator[list[subprocess.Popen]]:
    started = [start_worker(env, f"w{i}", logs / f"worker{i}.log") for i in range(count)]
    try:
        yield started
    finally:
        for process in started:
            stop_process(process)


def linear_grid(folder: Path, name: str, epochs: int, lrs: str = "[0.5]", extra: str = "") -> Path:
    """A grid file of unfused linear cross-entropy jobs, one per lr: the fault tests' sweep."""
    path = folder / f"{name}.toml"
    path.write_text(
        f'name = "{name}"\nfuse = false\n{extra}\n[train]\nepochs = {epochs}\n'
        f'[grid]\nmodel = "linear"\nloss = "cross_entropy"\nlr = {lrs}\nbatch_size = 64\n'
    )
    return path


def epochs_of(store: Store, job_id: int) -> list[int]:
    """The epoch numbers stored for the job, in order: each once when nothing was redone."""
    return [row.epoch for row in store.epochs(job_id)]


def wait_until(condition, timeout: float, what: str, poll: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def run_cli(
    env: Mapping[str, str], *args: str, timeout: float = 300
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mnistgrid.cli", *args],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@contextmanager
def cli_running(
    env: Mapping[str, str], *args: str
) -> Iterator[tuple[subprocess.Popen, list[str]]]:
    """`mnistgrid ARGS` running through the block, its output (stdout and stderr) gathered line
    by line into the list as it comes; killed at the block's end if it still runs."""
    process = subprocess.Popen(
        [sys.executable, "-m", "mnistgrid.cli", *args],
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True)
    reader.start()
    try:
        yield process, lines
    finally:
        process.kill()
        process.wait()
        reader.join(10)


def mnistgrid_check(**settings: str) -> subprocess.CompletedProcess:
    """`mnistgrid check` with these MNISTGRID_* settings only (and PATH): what a client with
    nothing else configured sees."""
    env = {f"MNISTGRID_{key.upper()}": value for key, value in settings.items()}
    return subprocess.run(
        [sys.executable, "-m", "mnistgrid.cli", "check"],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class RedisServer:
    """A private redis-server on a free port (with a password, as the stack runs it, when
    given one), keeping nothing on disk unless `appendonly` (as the stack runs it: every write
    in its append-only file, replayed at a restart); a test may stop and start it again."""

    def __init__(
        self, folder: Path, password: str | None = None, appendonly: bool = False
    ) -> None:
        self.folder, self.password, self.port = folder, password, free_port()
        self.appendonly = appendonly
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self) -> None:
        args = [
            "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "yes" if self.appendonly else "no",
            "--dir",
            str(self.folder),
        ]
        if self.password:
            args += ["--requirepass", self.password]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url)
        wait_until(lambda: _pings(client), 10, f"redis-server on port {self.port}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()  # like a crash: only its append-only file, if any, is kept
            self.process.wait()
            self.process = None


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


@contextmanager
def redis_server(
    folder: Path, password: str | None = None, appendonly: bool = False
) -> Iterator[RedisServer]:
    server = RedisServer(folder, password, appendonly)
    server.start()
    try:
        yield server
    finally:
        server.stop()
