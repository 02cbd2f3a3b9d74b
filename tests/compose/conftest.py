"""Fixtures of the compose layer: a Docker engine for the session (started here when none
answers, and stopped again with the host's network put back), and the stack, brought up once
per session as docs/stack.md tells a user, with two workers; the certificates and .env values
that publish its Redis and PostgreSQL over TLS to a second "machine" (docs/stack.md, "Add a
machine").

    python -m pytest -m compose tests/compose

Without an engine that can be started (not root, no apt-get, no dockerd) every test here skips
with one line saying why; MNISTGRID_TEST_COMPOSE=required (CI) makes that a failure instead.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.compose.engine import EngineUnavailable, start_engine, why_no_engine
from tests.compose.images import provide_images
from tests.compose.stack import REPO, Stack
from tests.compose.wheels import image_requirements, served, wheelhouse

# MNISTGRID_LEASE_SECONDS of the test stack: short, so a lost job is taken over within a test.
LEASE_SECONDS = 10
IMAGE_UID = 1000  # the Dockerfile's default APP_UID / APP_GID
REPORTS = REPO / "reports"
# What the orchestrator service submits at `up` (the override names /grids/stack.toml): the
# baseline and two linear jobs of 3 epochs, one task each.
STACK_GRID = """fuse = false
[train]
epochs = 3
time_limit = 600
[grid]
model = ["baseline", "linear"]
distance = "mse"
loss = "cross_entropy"
lr = [0.5, 1.0]
batch_size = 256
"""


def unavailable(reason: str) -> None:
    """Skip (fail where required) for want of an engine. Called at a test module's import, it
    skips the whole module in one line of pytest's summary."""
    if os.environ.get("MNISTGRID_TEST_COMPOSE") == "required":
        pytest.fail(f"compose tests cannot run: {reason}", pytrace=False)
    pytest.skip(f"compose tests need a Docker engine: {reason}", allow_module_level=True)


def skip_module_without_engine() -> None:
    """Where required, the engine fixture fails instead, and only if a test here is selected."""
    reason = why_no_engine()
    if reason is not None and os.environ.get("MNISTGRID_TEST_COMPOSE") != "required":
        unavailable(reason)


@pytest.fixture(scope="session")
def docker_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    log = tmp_path_factory.mktemp("dockerd") / "dockerd.log"
    try:
        started = start_engine(log)
    except EngineUnavailable as error:
        unavailable(str(error))
    yield
    if started is not None:
        left = started.stop()
        assert not left, f"the host's network is not as it was after dockerd stopped: {left}"


def reports_owner() -> tuple[int, int]:
    """Prepare ./reports as docs/stack.md says, and return the uid:gid the containers must run
    as to write there: as root, a new folder is given to the image's default user; as anyone
    else, the containers take the folder owner's ids (APP_UID / APP_GID)."""
    REPORTS.mkdir(exist_ok=True)
    if os.geteuid() == 0 and REPORTS.stat().st_uid == 0:
        # `mkdir reports; chown 1000:1000 reports`: a folder left to root is what made
        # reports fail silently
        os.chown(REPORTS, IMAGE_UID, IMAGE_UID)
    owner = REPORTS.stat()
    return owner.st_uid, owner.st_gid


def free_port(address: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((address, 0))
        return sock.getsockname()[1]


def write_env_file(folder: Path, mnist_dir: Path, wheels_url: str) -> Path:
    """The stack's .env: random passwords, free Flower and web ports, MNIST from the host, and
    the image built from the served wheels only."""
    uid, gid = reports_owner()
    values = {
        "REDIS_PASSWORD": secrets.token_hex(16),
        "POSTGRES_PASSWORD": secrets.token_hex(16),
        "POSTGRES_READONLY_PASSWORD": secrets.token_hex(16),
        "FLOWER_BASIC_AUTH": f"admin:{secrets.token_hex(12)}",
        "FLOWER_BIND": "127.0.0.1",
        "FLOWER_PORT": free_port(),
        "WEB_AUTH": f"admin:{secrets.token_hex(12)}",
        "WEB_BIND": "127.0.0.1",
        "WEB_PORT": free_port(),
        "MNIST_DIR": mnist_dir.resolve(),
        "WORKER_THREADS": 1,  # two workers on two cores: one torch thread each
        "APP_UID": uid,
        "APP_GID": gid,
        "PIP_NO_INDEX": 1,
        "PIP_FIND_LINKS": wheels_url,
        "TEST_LEASE_SECONDS": LEASE_SECONDS,
        "TEST_GRIDS_DIR": folder / "grids",
    }
    path = folder / "env"
    path.write_text("".join(f"{key}={value}\n" for key, value in values.items()))
    return path


def read_env(stack: Stack) -> dict[str, str]:
    return stack.env()


@pytest.fixture(scope="session")
def stack(
    docker_engine: None, mnist_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """The real docker-compose.yml, brought up with two workers; its orchestrator submits
    STACK_GRID and waits for it. Taken down with its volumes at the end of the session: the
    modules share it (test_stack.py, then test_stack_hosts.py)."""
    folder = tmp_path_factory.mktemp("compose")
    (folder / "grids").mkdir()
    for line in provide_images():
        print(line)
    made_reports = not REPORTS.exists()
    token = secrets.token_hex(3)
    with served(wheelhouse(image_requirements())) as wheels_url:
        env_file = write_env_file(folder, mnist_dir, wheels_url)
        project = Stack(f"mnistgrid-test-{token}", env_file, folder / "grids", f"ct{token}")
        project.write_grid("stack", STACK_GRID)
        try:
            project.up()
            yield project
        finally:
            (folder / "compose.log").write_text(project.logs())
            print(f"compose logs: {folder / 'compose.log'}")
            project.down("--volumes", "--remove-orphans")
            for report in REPORTS.glob(f"{project.prefix}-*"):
                shutil.rmtree(report, ignore_errors=True)
            if made_reports and not any(REPORTS.iterdir()):
                REPORTS.rmdir()


def host_address() -> str:
    """An address of this machine that a container of any Docker network reaches and no
    other machine does: the default bridge's gateway. The second "machine" of the tests dials
    it, as a real one would dial the main host's address. Some engine and client pairs leave
    the gateway out of `docker network inspect`: then the bridge interface's own address."""
    network = json.loads(run_text("docker", "network", "inspect", "bridge"))[0]
    for config in (network.get("IPAM") or {}).get("Config") or []:
        gateway = config.get("Gateway") or ""
        if gateway and ":" not in gateway:  # IPv4: the certificates name it
            return gateway
    bridge = (network.get("Options") or {}).get("com.docker.network.bridge.name", "docker0")
    found = run_text("ip", "-4", "-o", "addr", "show", "dev", bridge).split()
    assert "inet" in found, f"the bridge {bridge} has no IPv4 address"
    return found[found.index("inet") + 1].split("/")[0]


def run_text(*argv: str) -> str:
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout.strip()


def make_certs(folder: Path, *names: str) -> Path:
    """The scripts/make-certs.sh of docs/stack.md into `folder`; returns its tls/ folder (ca.crt,
    server.crt, server.key). Made for each run, never committed."""
    done = subprocess.run(
        ["sh", str(REPO / "scripts" / "make-certs.sh"), "--out", str(folder), *names],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return folder / "tls"


@pytest.fixture(scope="session")
def publishing(docker_engine: None, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """What .env says to publish the main stack's Redis and PostgreSQL over TLS: the host
    address, a free port each, and certificates made for that address."""
    address = host_address()
    tls = make_certs(tmp_path_factory.mktemp("certs"), address)
    return {
        "REDIS_PUBLISH_ADDRESS": address,
        "REDIS_PUBLISH_PORT": str(free_port(address)),
        "POSTGRES_PUBLISH_ADDRESS": address,
        "POSTGRES_PUBLISH_PORT": str(free_port(address)),
        "TLS_DIR": str(tls),
    }
