"""Integration fixtures: `database_url` runs a test on SQLite (a real file) and on PostgreSQL.

    python -m pytest -m integration tests/integration

`database_url` is migrated to the current schema, ready for a `Store` or a worker;
`empty_database_url` has no tables at all (for migration tests). Each PostgreSQL test gets a
fresh database `mnistgrid_test_<random>` on the server named by
MNISTGRID_TEST_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/postgres), dropped
afterwards. An unreachable server fails the test: these tests run here and in CI, never skip.
Other tests make their own with `postgres_database()` or the `postgres_url` fixture.
`twins_url` is a database of the test's own holding the seeds grid and its ASHA twin
(twins.py): a copy (SQLite's backup, PostgreSQL's CREATE DATABASE ... TEMPLATE) of one written
once per session: under a second each, where writing them took up to ten on PostgreSQL.

The fault tests restart that server (`restart_postgres`): the cluster MNISTGRID_TEST_POSTGRES_
CLUSTER names (`VERSION/NAME`, as `pg_lsclusters` lists it), by default this machine's `main`.
Point both at a throwaway cluster to leave the machine's own alone: `scripts/test-postgres.sh`
makes one and prints the two settings.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from db.migrate import upgrade
from db.store import Store
from tests.integration.twins import TWIN_IDS, write_twins

ADMIN_URL = os.environ.get(
    "MNISTGRID_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def postgres_cluster() -> tuple[str, str]:
    """(version, name) of the cluster behind ADMIN_URL, which the fault tests restart."""
    named = os.environ.get("MNISTGRID_TEST_POSTGRES_CLUSTER")
    if named:
        version, _, name = named.partition("/")
        return version, name or "main"
    return sorted(os.listdir("/etc/postgresql"))[0], "main"


def restart_postgres() -> None:
    """Restart the tests' PostgreSQL server (every connection to it drops)."""
    version, name = postgres_cluster()
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, name, "restart"],
        check=True,
        capture_output=True,
    )


class PostgresUnavailable(RuntimeError):
    pass


def _admin() -> psycopg.Connection:
    conninfo = make_url(ADMIN_URL).set(drivername="postgresql")
    try:
        return psycopg.connect(
            conninfo.render_as_string(hide_password=False), autocommit=True, connect_timeout=5
        )
    except psycopg.OperationalError as error:
        raise PostgresUnavailable(
            f"PostgreSQL unreachable at {make_url(ADMIN_URL).render_as_string()}: {error}. "
            "Start it (pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main "
            "start) or point MNISTGRID_TEST_POSTGRES_URL at a server where CREATE DATABASE works"
        ) from error


def create_postgres_database(prefix: str = "mnistgrid_test", template: str | None = None) -> str:
    """Create an empty database, or a copy of the database `template` (a URL that nobody is
    connected to); returns its SQLAlchemy URL (drop it with the function below)."""
    name = f"{prefix}_{secrets.token_hex(6)}"
    create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template is not None:
        create += sql.SQL(" TEMPLATE {}").format(sql.Identifier(make_url(template).database))
    with _admin() as connection:
        connection.execute(create)
    url = make_url(ADMIN_URL).set(drivername="postgresql+psycopg", database=name)
    return url.render_as_string(hide_password=False)


def drop_postgres_database(url: str) -> None:
    name = make_url(url).database
    with _admin() as connection:
        # FORCE: a leftover pooled connection must not keep the database alive.
        connection.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@contextmanager
def postgres_database(prefix: str = "mnistgrid_test") -> Iterator[str]:
    """A fresh, empty PostgreSQL database for the block; dropped afterwards."""
    url = create_postgres_database(prefix)
    try:
        yield url
    finally:
        drop_postgres_database(url)


def _created_or_fail(prefix: str = "mnistgrid_test", template: str | None = None) -> str:
    """`create_postgres_database`, an unreachable server failing the test that asked."""
    try:
        return create_postgres_database(prefix, template)
    except PostgresUnavailable as error:
        pytest.fail(str(error), pytrace=False)


@contextmanager
def _fresh_postgres(template: str | None = None) -> Iterator[str]:
    url = _created_or_fail(template=template)
    try:
        yield url
    finally:
        drop_postgres_database(url)


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no tables, on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'mnistgrid.db'}"
        return
    with _fresh_postgres() as url:
        yield url


@pytest.fixture
def database_url(empty_database_url: str) -> str:
    """A database at this mnistgrid's schema, on each backend."""
    upgrade(empty_database_url)
    return empty_database_url


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """An empty PostgreSQL database only."""
    with _fresh_postgres() as url:
        yield url


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    """A Store on `database_url`."""
    with Store(database_url) as opened:
        yield opened


@pytest.fixture(scope="session")
def twins_templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Backend -> a database holding the twins (tests/integration/twins.py), written once per
    session when first asked for: writing them takes seconds, copying them a fraction of one."""
    templates: dict[str, str] = {}
    yield templates
    if "postgresql" in templates:
        drop_postgres_database(templates["postgresql"])


@pytest.fixture(params=["sqlite", "postgresql"])
def twins_url(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    twins_templates: dict[str, str],
) -> Iterator[str]:
    """A database of this test's own holding the twins, with their ids TWIN_IDS, on each
    backend: a copy of the session's."""
    backend = request.param
    if backend not in twins_templates:
        twins_templates[backend] = _written_twins(backend, tmp_path_factory)
    template = twins_templates[backend]
    if backend == "sqlite":
        copy = tmp_path / "mnistgrid.db"
        with (
            closing(sqlite3.connect(make_url(template).database)) as source,
            closing(sqlite3.connect(copy)) as target,
        ):
            source.backup(target)
        yield f"sqlite:///{copy}"
        return
    with _fresh_postgres(template) as url:
        yield url


def _written_twins(backend: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('twins') / 'mnistgrid.db'}"
        _write_twins(url)
        return url
    url = _created_or_fail("mnistgrid_twins")
    try:
        _write_twins(url)
    except BaseException:
        drop_postgres_database(url)
        raise
    return url


def _write_twins(url: str) -> None:
    upgrade(url)
    with Store(url) as store:  # closed: a template PostgreSQL copies has nobody connected
        assert write_twins(store) == TWIN_IDS
