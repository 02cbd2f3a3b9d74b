"""Schema migrations: Alembic scripts shipped inside the package, no alembic.ini on disk.

    mnistgrid db upgrade     # bring a database to this mnistgrid's schema
    mnistgrid db current     # which revision it is at

A new embedded SQLite file is migrated on first use (`ensure_current`); every other database that
is behind raises `SchemaBehind` until a person runs `mnistgrid db upgrade`. A new revision, for
developers (then review the generated file under db/migrations/versions/):

    python -c 'from alembic import command; from db.migrate import make_config; \
        command.revision(make_config("sqlite:///dev.db"), "what changed", autogenerate=True)'
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, exc, inspect, text
from sqlalchemy.engine import URL, make_url

from db.engine import make_engine, safe_url, write_bind
from db.errors import DatabaseUnavailable, SchemaAhead, SchemaBehind, first_line

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Any constant: serialises concurrent `mnistgrid db upgrade` runs on one PostgreSQL database.
_PG_MIGRATION_LOCK = 0x6D6E6973


def make_config(url: str | URL | None = None, *, connection: Connection | None = None) -> Config:
    """An Alembic config built in code; env.py uses `connection` if given, else the URL."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        plain = make_url(url).render_as_string(hide_password=False)
        config.set_main_option("sqlalchemy.url", plain.replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


@functools.cache
def head_revision() -> str:
    head = ScriptDirectory.from_config(make_config()).get_current_head()
    assert head is not None, "no migration scripts found"
    return head


@functools.cache
def known_revisions() -> frozenset[str]:
    script = ScriptDirectory.from_config(make_config())
    return frozenset(revision.revision for revision in script.walk_revisions())


def current_revision(url: str | URL | Engine) -> str | None:
    """The database's revision; None for a database Alembic never touched (or at base)."""
    with _engine_for(url) as engine, _connected(engine) as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(url: str | URL | Engine, revision: str = "head") -> str | None:
    """Migrate to `revision` (default: this mnistgrid's schema); returns the new revision."""
    with _engine_for(url, foreign_keys=False) as engine:
        return _migrate(engine, command.upgrade, revision)


def downgrade(url: str | URL | Engine, revision: str) -> str | None:
    """Migrate back to `revision` ("base" drops every table). For tests and developers."""
    with _engine_for(url, foreign_keys=False) as engine:
        return _migrate(engine, command.downgrade, revision)


def ensure_current(url: str | URL | Engine) -> None:
    """Return if the schema is current; migrate a brand-new SQLite database; raise otherwise."""
    head = head_revision()
    with _engine_for(url) as engine:
        with _connected(engine) as connection:
            current = MigrationContext.configure(connection).get_current_revision()
            empty = not inspect(connection).get_table_names()
        if current == head:
            return
        if engine.dialect.name == "sqlite" and empty:
            # Embedded mode: nobody runs `db upgrade` by hand. Concurrent first users queue on
            # BEGIN IMMEDIATE; the later ones find the schema current and do nothing.
            _migrate(engine, command.upgrade, "head")
            return
    if current is None or current in known_revisions():
        raise SchemaBehind(current, head)
    raise SchemaAhead(current, head)


def _migrate(engine: Engine, step: object, revision: str) -> str | None:
    """Run an Alembic command in ONE transaction that holds the database's write lock."""
    with locked_transaction(engine) as connection:
        step(make_config(connection=connection), revision)  # type: ignore[operator]
        return MigrationContext.configure(connection).get_current_revision()


@contextmanager
def locked_transaction(url: str | URL | Engine) -> Iterator[Connection]:
    """One transaction that holds the database's write lock, the one migrations take: what
    changes the schema or its grants waits for a concurrent `mnistgrid db upgrade`."""
    with (
        _engine_for(url, foreign_keys=False) as engine,
        _connected(write_bind(engine)) as connection,
        connection.begin(),
    ):
        if connection.dialect.name == "postgresql":
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK}
            )
        yield connection


@contextmanager
def _engine_for(url: str | URL | Engine, *, foreign_keys: bool = True) -> Iterator[Engine]:
    if isinstance(url, Engine):
        yield url
        return
    engine = make_engine(url, foreign_keys=foreign_keys)
    try:
        yield engine
    finally:
        engine.dispose()


@contextmanager
def _connected(engine: Engine) -> Iterator[Connection]:
    try:
        connection = engine.connect()
    except exc.OperationalError as error:
        raise DatabaseUnavailable(
            f"cannot open database {safe_url(engine.url)}: {first_line(error)}"
        ) from error
    with connection:
        yield connection
