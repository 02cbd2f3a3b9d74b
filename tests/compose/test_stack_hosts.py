"""A second machine joins the stack (docs/stack.md, "Add a machine"), for real: the main stack,
publishing Redis and PostgreSQL over TLS (docker-compose.publish.yml, as test_stack.py's last
test left it), and a second compose project of docker-compose.workers.yml on a Docker network
of its own, standing in for the other machine. Its two workers reach the main host's servers
only through the published TLS ports on the host's address (the default bridge's gateway:
every Docker network reaches it, no other machine does).

    python -m pytest -m compose tests/compose -s

Run after test_stack.py, on the same stack (its fixture is the session's); alone, the module
publishes the stack first. The tests run in file order.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.compose.conftest import LEASE_SECONDS, make_certs, skip_module_without_engine
from tests.compose.stack import REPO, Stack, docker, inspect, wait_until
from tests.compose.test_stack import (
    Fault,
    assert_one_row_per_epoch,
    container_of,
    environment,
    epochs_of,
    jobs_of,
    long_grid,
    published,
    reachable_from,
    wait_finished,
)
from tests.integration.services import mnistgrid_check

pytestmark = [pytest.mark.compose, pytest.mark.integration]
skip_module_without_engine()

WORKERS = REPO / "docker-compose.workers.yml"
OVERRIDE_WORKERS = Path(__file__).resolve().parent / "override-workers.yml"


@pytest.fixture(scope="module")
def main(stack: Stack, publishing: dict[str, str]) -> Stack:
    """The main stack, publishing over TLS, with its two workers."""
    if not stack.published:  # this module alone: publish as test_stack.py's last test does
        stack.publish(**publishing)
        stack.up()
    stack.scale_workers(2)
    return stack


@pytest.fixture(scope="module")
def host2(
    main: Stack, publishing: dict[str, str], mnist_dir: Path, tmp_path_factory
) -> Iterator[Stack]:
    """The second machine: `docker-compose up -d --scale worker=2` of the worker-host file, with
    the .env docs/stack.md tells its user to write (the main host's address and ports, the two
    passwords) and only the authority's certificate in its certs folder."""
    folder = tmp_path_factory.mktemp("host2")
    (folder / "tls").mkdir()
    shutil.copy(Path(publishing["TLS_DIR"]) / "ca.crt", folder / "tls" / "ca.crt")
    env = main.env()
    values = {
        "MAIN_HOST": publishing["REDIS_PUBLISH_ADDRESS"],
        "MAIN_REDIS_PORT": publishing["REDIS_PUBLISH_PORT"],
        "MAIN_POSTGRES_PORT": publishing["POSTGRES_PUBLISH_PORT"],
        "REDIS_PASSWORD": env["REDIS_PASSWORD"],
        "POSTGRES_PASSWORD": env["POSTGRES_PASSWORD"],
        "TLS_DIR": folder / "tls",
        "MNIST_DIR": mnist_dir.resolve(),  # its own MNIST folder; one machine here
        "WORKER_THREADS": 1,
        "TEST_LEASE_SECONDS": LEASE_SECONDS,
        "TEST_GRIDS_DIR": env["TEST_GRIDS_DIR"],
    }
    (folder / "env").write_text("".join(f"{key}={value}\n" for key, value in values.items()))
    files = (WORKERS, OVERRIDE_WORKERS)
    host = Stack(f"{main.project}-host2", folder / "env", main.grids, main.prefix, files)
    try:
        host.compose("up", "-d", "--no-build", "--scale", "worker=2", timeout=600)
        yield host
    finally:
        (folder / "compose.log").write_text(host.logs())
        print(f"second host's compose logs: {folder / 'compose.log'}")
        host.down("--volumes", "--remove-orphans")


def short_ids(stack: Stack, service: str = "worker") -> set[str]:
    """The worker containers' host names (a container's host name is its short id)."""
    return {container[:12] for container in stack.containers(service)}


def networks_of(container: str) -> dict[str, dict]:
    return inspect(container)["NetworkSettings"]["Networks"]


# -- the way in: the published TLS ports, and nothing else -------------------------------------


def test_the_second_hosts_workers_reach_the_main_host_only_through_its_tls_ports(
    main: Stack, host2: Stack, publishing: dict[str, str]
):
    (check,) = host2.containers("check-main", running=False)
    assert host2.exit_code(check) == 0
    checked = host2.compose("logs", "--no-color", "check-main").stdout
    address = publishing["REDIS_PUBLISH_ADDRESS"]
    redis_port, postgres_port = (
        publishing["REDIS_PUBLISH_PORT"],
        publishing["POSTGRES_PUBLISH_PORT"],
    )
    assert f"broker: ok, rediss://mnistgrid:***@{address}:{redis_port}/0" in checked
    assert f"store: ok, postgresql+psycopg://mnistgrid:***@{address}:{postgres_port}/" in checked
    assert "sslmode=verify-full" in checked
    workers = host2.containers("worker")
    assert len(workers) == 2
    (network,) = networks_of(workers[0])
    main_networks = set(networks_of(main.containers("redis")[0]))
    assert network not in main_networks, "the second host has a network of its own"
    servers = []
    for service, port in (("redis", 6379), ("postgres", 5432)):
        (container,) = main.containers(service)
        (settings,) = networks_of(container).values()
        servers.append(f"{settings['IPAddress']}:{port}")
    published = [f"{address}:{redis_port}", f"{address}:{postgres_port}"]
    found = reachable_from(network, servers + published)
    assert [found[target] for target in published] == ["open", "open"], found
    assert "open" not in [found[target] for target in servers], found
    env = environment(workers[0])
    assert env["MNISTGRID_BROKER_URL"].startswith("rediss://")
    assert env["MNISTGRID_TLS_CA_FILE"] == "/run/mnistgrid/tls/ca.crt"
    mounts = {mount["Destination"] for mount in inspect(workers[0])["Mounts"]}
    assert "/app/reports" not in mounts, "nothing of the main host's file system"


def test_a_client_that_does_not_trust_the_authority_or_speaks_plain_text_is_refused(
    main: Stack, publishing: dict[str, str], tmp_path
):
    env = main.env()
    address = publishing["REDIS_PUBLISH_ADDRESS"]
    broker = f"mnistgrid:{env['REDIS_PASSWORD']}@{address}:{publishing['REDIS_PUBLISH_PORT']}/0"
    store = (
        f"postgresql+psycopg://mnistgrid:{env['POSTGRES_PASSWORD']}@{address}:"
        f"{publishing['POSTGRES_PUBLISH_PORT']}/mnistgrid"
    )
    trusted = Path(publishing["TLS_DIR"]) / "ca.crt"
    done = mnistgrid_check(
        database_url=store, broker_url=f"rediss://{broker}", tls_ca_file=str(trusted)
    )
    assert done.returncode == 0, done.stdout + done.stderr  # the way in works
    # An authority of its own, as a client of someone else's stack would have
    stranger = make_certs(tmp_path / "stranger", address) / "ca.crt"
    done = mnistgrid_check(
        database_url=store, broker_url=f"rediss://{broker}", tls_ca_file=str(stranger)
    )
    assert done.returncode == 1
    refused = done.stderr.splitlines()
    assert len(refused) == 2 and all("certificate verify failed" in line for line in refused)
    # Plain text, on both ports
    done = mnistgrid_check(database_url=f"{store}?sslmode=disable", broker_url=f"redis://{broker}")
    assert done.returncode == 1
    store_line, broker_line = done.stderr.splitlines()
    assert store_line.startswith("store: error: ") and "no encryption" in store_line, store_line
    assert broker_line.startswith("broker: error: cannot reach the broker"), broker_line


# -- sweeps over two hosts ----------------------------------------------------------------------


def test_a_sweep_runs_on_both_hosts_and_its_report_lands_on_the_main_host(
    main: Stack, host2: Stack
):
    """Submitted and waited for on the second host: its workers and the main host's train it;
    the main host's worker writes the report into the main host's ./reports, and `submit
    --wait` on the second host says where it is."""
    sweep = main.write_grid("both", long_grid("[0.1, 0.2, 0.3, 0.5, 0.7, 1.0]", epochs=8))
    submit = ("run", "--rm", "-T", "--no-deps", "worker", "mnistgrid", "submit")
    done = host2.compose(*submit, "/grids/both.toml", "--wait", timeout=600, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"sweep {sweep} " in done.stdout and "finished: 6 succeeded" in done.stdout
    assert "report: written on the main host " in done.stdout, done.stdout
    assert f"as {sweep}/report.html in its reports folder" in done.stdout
    hosts = {container_of(job) for job in jobs_of(main, sweep)}
    assert hosts & short_ids(main) and hosts & short_ids(host2), (
        f"the store's worker column: {hosts}; main {short_ids(main)}, second {short_ids(host2)}"
    )
    assert_one_row_per_epoch(main, sweep)
    assert (REPO / "reports" / sweep / "report.html").is_file()
    # ... and the web view, which reads the main host's ./reports, serves it at its link
    status, page = published(main, "WEB_PORT", "WEB_AUTH", f"/reports/{sweep}/report.html")
    assert status == 200 and sweep in page
    for worker in host2.containers("worker"):
        listed = docker("exec", worker, "ls", "-A", "/app/reports")
        assert listed.returncode == 0 and listed.stdout.strip() == "", listed.stdout


def test_docker_kill_of_the_second_hosts_workers_mid_sweep_is_healed_by_the_main_hosts(
    main: Stack, host2: Stack
):
    """Both of the second host's worker containers killed while they train, nobody watching:
    the main host's workers take their jobs over once the leases run out and resume them after
    their last stored epoch. Nothing is lost and no stored epoch is trained again."""
    sweep = main.write_grid("host-kill", long_grid("[0.2, 0.3, 0.5, 1.0]", epochs=24))
    main.submit("host-kill")
    second = short_ids(host2)

    def second_host_trains() -> bool:
        stored = epochs_of(main, sweep)
        for job in jobs_of(main, sweep):
            epochs = [e for e in stored if e["job_id"] == job["job_id"]]
            if job["status"] == "running" and container_of(job) in second and len(epochs) >= 3:
                return True
        return False

    wait_until(second_host_trains, 180, "a job of the second host with 3 epochs stored")
    fault = Fault.now("docker kill of the second host's workers", main, sweep)
    taken = {
        j["job_id"]
        for j in jobs_of(main, sweep)
        if j["status"] == "running" and container_of(j) in second
    }
    killed = host2.containers("worker")
    subprocess.run(["docker", "kill", *killed], capture_output=True, check=True)
    finished = wait_finished(main, sweep, timeout=6 * LEASE_SECONDS + 120)
    after = {j["job_id"]: j for j in jobs_of(main, sweep)}
    assert {j["status"] for j in after.values()} == {"succeeded"}
    for job_id in taken:
        assert container_of(after[job_id]) in short_ids(main), after[job_id]
        assert after[job_id]["attempts"] >= 2
    assert_one_row_per_epoch(main, sweep)
    assert fault.report(main, finished) == 0
