"""TLS to the servers, client side, against real ones: a private redis-server on its TLS port
only and a private PostgreSQL cluster that takes TCP over TLS only, both with certificates of
scripts/make-certs.sh, as the stack publishes them (docker-compose.publish.yml). mnistgrid's
own clients (`mnistgrid check`: the store's engine and the Celery app, with the settings'
`MNISTGRID_TLS_CA_FILE`) connect with the authority, and are refused with another authority,
with a name the certificate does not hold, and in plain text.

    python -m pytest tests/integration/test_tls.py

The PostgreSQL cluster needs the server's binaries and root (initdb runs as user postgres);
without them those checks skip. tests/compose runs the same through the published ports.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.services import free_port, mnistgrid_check, wait_until

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
PG_BINARIES = sorted(Path("/usr/lib/postgresql").glob("*/bin"))


def make_certs(folder: Path, *names: str) -> Path:
    script = REPO / "scripts" / "make-certs.sh"
    done = subprocess.run(["sh", str(script), "--out", str(folder), *names], capture_output=True)
    assert done.returncode == 0, done.stderr
    return folder / "tls"


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> dict[str, Path]:
    """The stack's authority and server certificate, and another authority's certificate."""
    tls = make_certs(tmp_path_factory.mktemp("certs"))  # redis, postgres, localhost, 127.0.0.1
    stranger = make_certs(tmp_path_factory.mktemp("stranger"))
    return {"tls": tls, "ca": tls / "ca.crt", "stranger": stranger / "ca.crt"}


@pytest.fixture(scope="module")
def tls_redis(certs, tmp_path_factory) -> Iterator[int]:
    """redis-server on 127.0.0.1 and 127.0.0.2, TLS only (the stack's arguments)."""
    tls, port = certs["tls"], free_port()
    process = subprocess.Popen(
        ["redis-server", "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1 127.0.0.2"]
        + ["--tls-auth-clients", "no", "--tls-cert-file", str(tls / "server.crt")]
        + ["--tls-key-file", str(tls / "server.key"), "--tls-ca-cert-file", str(tls / "ca.crt")]
        + ["--save", "", "--appendonly", "no", "--dir", str(tmp_path_factory.mktemp("redis"))],
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: answers(port), 10, "redis-server on its TLS port")
        yield port
    finally:
        process.kill()
        process.wait()


def answers(port: int) -> bool:
    import socket

    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def tls_postgres(certs) -> Iterator[int]:
    """A private cluster on 127.0.0.1 and 127.0.0.2: ssl on, TCP over TLS only (hostssl), the
    password of user postgres `pw`."""
    if os.geteuid() != 0 or not PG_BINARIES or shutil.which("runuser") is None:
        pytest.skip("a private PostgreSQL cluster needs root and the server's binaries")
    # Not under pytest's folders, which only root may enter: the server runs as postgres.
    binaries, port = PG_BINARIES[-1], free_port()
    folder = Path(tempfile.mkdtemp(prefix="mnistgrid-tls-postgres-"))
    for name in ("server.crt", "server.key"):
        shutil.copy(certs["tls"] / name, folder / name)
    (folder / "hba").write_text("local all all trust\nhostssl all all all scram-sha-256\n")
    shutil.chown(folder, "postgres")
    for path in folder.iterdir():
        shutil.chown(path, "postgres")

    def as_postgres(*argv: str) -> None:
        done = subprocess.run(["runuser", "-u", "postgres", "--", *argv], capture_output=True)
        assert done.returncode == 0, done.stderr

    as_postgres(str(binaries / "initdb"), "-D", str(folder / "data"), "-U", "postgres")
    options = (
        f"-p {port} -k {folder} -c listen_addresses=127.0.0.1,127.0.0.2 -c ssl=on"
        f" -c ssl_cert_file={folder}/server.crt -c ssl_key_file={folder}/server.key"
        f" -c hba_file={folder}/hba"
    )
    pg_ctl = str(binaries / "pg_ctl")
    as_postgres(
        pg_ctl, "-D", str(folder / "data"), "-l", str(folder / "log"), "-o", options, "-w", "start"
    )
    try:
        as_postgres(
            "psql", "-h", str(folder), "-p", str(port), "-c", "alter user postgres password 'pw'"
        )
        yield port
    finally:
        as_postgres(pg_ctl, "-D", str(folder / "data"), "-m", "immediate", "stop")
        shutil.rmtree(folder, ignore_errors=True)


def urls(redis_port: int, postgres_port: int, host: str = "127.0.0.1") -> dict[str, str]:
    return {
        "broker_url": f"rediss://{host}:{redis_port}/0",
        "database_url": f"postgresql+psycopg://postgres:pw@{host}:{postgres_port}/postgres",
    }


def test_the_store_and_the_broker_answer_a_client_that_trusts_their_authority(
    certs, tls_redis, tls_postgres
):
    done = mnistgrid_check(**urls(tls_redis, tls_postgres), tls_ca_file=str(certs["ca"]))
    # the database is no mnistgrid store yet: it answered, over TLS, and said so
    assert "schema is at base" in done.stderr, done.stdout + done.stderr
    assert done.stdout.splitlines() == [f"broker: ok, rediss://127.0.0.1:{tls_redis}/0"]
    assert "sslmode=verify-full&sslrootcert=" in done.stderr


@pytest.mark.parametrize("client", ["another authority", "a name not in the certificate"])
def test_a_client_that_cannot_check_the_server_is_refused(client, certs, tls_redis, tls_postgres):
    if client == "another authority":
        settings = urls(tls_redis, tls_postgres) | {"tls_ca_file": str(certs["stranger"])}
        why = ("certificate verify failed", "certificate verify failed")
    else:  # 127.0.0.2 reaches the same servers, but the certificate names 127.0.0.1 only
        settings = urls(tls_redis, tls_postgres, "127.0.0.2") | {"tls_ca_file": str(certs["ca"])}
        why = ("does not match host name", "IP address mismatch")
    done = mnistgrid_check(**settings)
    assert done.returncode == 1
    store, broker = done.stderr.splitlines()
    assert store.startswith("store: error: ") and why[0] in store, store
    assert broker.startswith("broker: error: ") and why[1] in broker, broker


def test_plain_text_is_refused_by_both(certs, tls_redis, tls_postgres):
    plain = {
        "broker_url": f"redis://127.0.0.1:{tls_redis}/0",
        "database_url": f"postgresql+psycopg://postgres:pw@127.0.0.1:{tls_postgres}/postgres"
        "?sslmode=disable",
    }
    done = mnistgrid_check(**plain, tls_ca_file=str(certs["ca"]))
    assert done.returncode == 1
    store, broker = done.stderr.splitlines()
    assert "no encryption" in store, store
    assert broker.startswith("broker: error: cannot reach the broker"), broker
