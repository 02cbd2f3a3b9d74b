"""The read-only role of `mnistgrid db upgrade` (db/roles.py), on a real PostgreSQL: it reads
every table, those made later included, opens a Store as `mnistgrid serve` does, and cannot
write or create anything, whatever it had been granted before.

    python -m pytest -m integration tests/integration/test_readonly_role.py

The compose layer checks the same role through the web container's own URL, with passwords
(this machine's PostgreSQL trusts 127.0.0.1, so a password proves nothing here).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from base64 import b64decode
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql
from sqlalchemy.engine import make_url

from db.migrate import upgrade
from db.roles import RoleNotGranted, grant_readonly
from db.store import Store
from mnistgrid.errors import BadInput
from tests.integration.conftest import ADMIN_URL
from tests.integration.services import mnistgrid_env, run_cli
from tests.integration.test_store import make_jobs

pytestmark = pytest.mark.integration

TABLES = {"alembic_version", "sweeps", "jobs", "epochs", "checkpoints", "workers"}
# Each must fail with "permission denied" even in a read-write transaction: the privileges are
# the wall, the role's read-only default transactions only a second guard.
WRITES = {
    "insert": "INSERT INTO sweeps (name, grid, grid_hash, status, created_at)"
    " VALUES ('x', '{}', 'h', 'queued', now())",
    "update": "UPDATE jobs SET status = 'failed'",
    "delete": "DELETE FROM epochs",
    "truncate": "TRUNCATE checkpoints",
    "create table": "CREATE TABLE intruder (x int)",
    "alter table": "ALTER TABLE jobs ADD COLUMN intruder int",
    "drop table": "DROP TABLE epochs",
    "sequence": "SELECT nextval('sweeps_sweep_id_seq')",
}


def connect(url: str) -> psycopg.Connection:
    return psycopg.connect(make_url(url).set(drivername="postgresql").render_as_string(False))


def as_admin(database: str, statement: sql.Composable | str) -> None:
    admin = make_url(ADMIN_URL).set(drivername="postgresql", database=database)
    with psycopg.connect(admin.render_as_string(False), autocommit=True) as connection:
        connection.execute(statement)


@pytest.fixture
def owner_url(postgres_url: str) -> str:
    upgrade(postgres_url)
    return postgres_url


@pytest.fixture
def reader_url(owner_url: str) -> Iterator[str]:
    """The URL of a role that does not exist yet; dropped afterwards (roles outlive databases)."""
    name = f"mnistgrid_ro_{secrets.token_hex(4)}"
    url = make_url(owner_url).set(username=name, password=secrets.token_hex(8))
    yield url.render_as_string(hide_password=False)
    drop_role(name, make_url(owner_url).database)


def drop_role(name: str, database: str) -> None:
    """Drop a role with its grants in `database` (DROP OWNED fails for a role never made)."""
    role = sql.Identifier(name)
    statement = sql.SQL(
        "DO $$ BEGIN IF EXISTS (SELECT FROM pg_roles WHERE rolname = {name})"
        " THEN DROP OWNED BY {role}; DROP ROLE {role}; END IF; END $$"
    ).format(name=sql.Literal(name), role=role)
    as_admin(database, statement)


def refused_writes(reader_url: str, writes: dict[str, str] = WRITES) -> dict[str, str]:
    """Each of `writes` tried by the role in a read-write transaction: the class name of its
    error, or "done" when it went through."""
    outcome = {}
    with connect(reader_url) as connection:
        connection.autocommit = True
        for what, statement in writes.items():
            try:
                with connection.transaction():
                    connection.execute("SET TRANSACTION READ WRITE")
                    connection.execute(statement)
                outcome[what] = "done"
            except psycopg.Error as error:
                outcome[what] = type(error).__name__
    return outcome


def test_the_role_reads_every_table_and_writes_nothing(owner_url, reader_url):
    role = grant_readonly(owner_url, reader_url)
    assert role.name == make_url(reader_url).username and role.tables == len(TABLES)
    with connect(reader_url) as connection:
        for table in TABLES:
            connection.execute(sql.SQL("SELECT * FROM {}").format(sql.Identifier(table)))
        assert connection.execute("SHOW default_transaction_read_only").fetchone() == ("on",)
    assert refused_writes(reader_url) == dict.fromkeys(WRITES, "InsufficientPrivilege")


def test_a_store_opens_and_reads_through_the_role(owner_url, reader_url):
    with Store(owner_url) as owner:
        owner.create_sweep("lrs", {"name": "lrs"}, "hash-a", make_jobs(2))
    grant_readonly(owner_url, reader_url)
    # Store.__init__ checks the schema's revision, as `mnistgrid serve` does when it starts.
    with Store(reader_url) as reader:
        sweep = reader.get_sweep("lrs")
        assert len(reader.sweep_jobs(sweep.sweep_id)) == 2


def test_tables_made_after_the_grant_are_readable_and_not_writable(owner_url, reader_url):
    grant_readonly(owner_url, reader_url)
    with connect(owner_url) as owner:
        owner.execute("CREATE TABLE later (x int)")
        owner.execute("INSERT INTO later VALUES (1)")
    with connect(reader_url) as connection:
        assert connection.execute("SELECT x FROM later").fetchall() == [(1,)]
    insert = {"insert": "INSERT INTO later VALUES (2)"}
    assert refused_writes(reader_url, insert) == {"insert": "InsufficientPrivilege"}


def test_upgrading_again_takes_back_what_was_granted_since(owner_url, reader_url):
    name = sql.Identifier(make_url(reader_url).username)
    grant_readonly(owner_url, reader_url)
    database = make_url(owner_url).database
    as_admin(database, sql.SQL("GRANT INSERT, UPDATE ON jobs TO {}").format(name))
    as_admin(database, sql.SQL("GRANT CREATE ON SCHEMA public TO {}").format(name))
    assert refused_writes(reader_url)["update"] == "done"
    grant_readonly(owner_url, reader_url)
    assert refused_writes(reader_url) == dict.fromkeys(WRITES, "InsufficientPrivilege")


def stored_password_is(name: str, password: str) -> bool:
    """Whether the SCRAM verifier PostgreSQL stores for `name` is the one of `password`
    (RFC 5802: StoredKey = H(HMAC(PBKDF2(password, salt, i), "Client Key")))."""
    admin = make_url(ADMIN_URL).set(drivername="postgresql")
    with psycopg.connect(admin.render_as_string(False)) as connection:
        query = "SELECT rolpassword FROM pg_authid WHERE rolname = %s"
        (stored,) = connection.execute(query, (name,)).fetchone()
    method, _, rest = stored.partition("$")
    iterations, _, rest = rest.partition(":")
    salt, _, rest = rest.partition("$")
    stored_key = rest.partition(":")[0]
    assert method == "SCRAM-SHA-256"
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), b64decode(salt), int(iterations))
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    return hashlib.sha256(client_key).digest() == b64decode(stored_key)


def test_the_password_is_the_urls_and_upgrading_again_sets_a_new_one(owner_url, reader_url):
    url = make_url(reader_url)
    grant_readonly(owner_url, url)
    assert stored_password_is(url.username, url.password)
    grant_readonly(owner_url, url.set(password="rotated"))
    assert stored_password_is(url.username, "rotated")
    assert not stored_password_is(url.username, url.password)


def test_a_role_with_powers_is_refused_not_used(owner_url, reader_url):
    name = make_url(reader_url).username
    as_admin("postgres", sql.SQL("CREATE ROLE {} LOGIN CREATEDB").format(sql.Identifier(name)))
    with pytest.raises(BadInput, match=f"role {name} is not read-only: it has CREATEDB"):
        grant_readonly(owner_url, reader_url)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"username": "postgres"}, "names the owner postgres"),
        ({"username": "someone", "database": "postgres"}, "names database postgres"),
        ({"drivername": "sqlite", "host": None}, "needs PostgreSQL"),
    ],
)
def test_urls_that_cannot_name_a_readonly_role_are_refused(owner_url, change, message):
    reader = make_url(owner_url).set(**change)
    with pytest.raises(BadInput, match=message):
        grant_readonly(owner_url, reader)


def test_an_owner_without_createrole_gets_one_line(owner_url, reader_url):
    """The owner is a plain role here (no CREATEROLE): the database's refusal, in one line."""
    plain = f"mnistgrid_owner_{secrets.token_hex(4)}"
    as_admin("postgres", sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(plain)))
    try:
        with pytest.raises(RoleNotGranted, match="permission denied to create role"):
            grant_readonly(make_url(owner_url).set(username=plain), reader_url)
    finally:
        drop_role(plain, make_url(owner_url).database)


def test_db_upgrade_makes_the_role_of_the_readonly_url(owner_url, reader_url):
    env = mnistgrid_env(database_url=owner_url, readonly_database_url=reader_url)
    done = run_cli(env, "db", "upgrade", timeout=120)
    assert done.returncode == 0, done.stderr
    name = make_url(reader_url).username
    assert f"role {name} may read the {len(TABLES)} tables of schema public" in done.stdout
    assert refused_writes(reader_url) == dict.fromkeys(WRITES, "InsufficientPrivilege")
