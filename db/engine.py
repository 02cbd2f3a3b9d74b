"""Engines and sessions: what each backend needs on every connection, set in one place.

SQLite (the embedded mode, several worker processes on one file): WAL so readers never block the
writer, a 30 s busy timeout, foreign keys on, and write transactions that start with
`BEGIN IMMEDIATE`, so a read-then-write transaction takes the write lock up front instead of
failing with "database is locked" when it tries to upgrade (optuna #820).
PostgreSQL: `pool_pre_ping`, so a pooled connection that died with a server restart is replaced.

A forked process must not reuse its parent's pooled connections: Celery workers call
`dispose_after_fork()` from `worker_process_init`.
"""

from __future__ import annotations

import functools
import json
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool

from mnistgrid.errors import BadInput

SQLITE_BUSY_TIMEOUT_MS = 30_000
# NaN is not JSON (PostgreSQL rejects it, SQLite would keep it): fail the same way on both.
_json_dumps = functools.partial(json.dumps, allow_nan=False)
# Execution option that makes a SQLite transaction start with BEGIN IMMEDIATE.
WRITE_OPTION = "mnistgrid_write"

_engines: weakref.WeakSet[Engine] = weakref.WeakSet()


def make_engine(url: str | URL, *, foreign_keys: bool = True) -> Engine:
    """An engine for a `sqlite:///` or `postgresql+psycopg://` URL (`postgresql://` means psycopg).

    `foreign_keys=False` is for migrations only: an Alembic batch operation rebuilds a SQLite
    table by dropping it, which with foreign keys on would cascade into the child tables.
    """
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        engine = _sqlite_engine(parsed, foreign_keys=foreign_keys)
    elif backend == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        engine = create_engine(parsed, pool_pre_ping=True, json_serializer=_json_dumps)
    else:
        raise BadInput(
            f"unsupported database URL {safe_url(parsed)}: "
            "use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB"
        )
    _engines.add(engine)
    return engine


def missing_sqlite_file(url: str | URL) -> str | None:
    """The file of a SQLite URL when it is not there (a mistyped path, not a new database to
    create); None for any other URL, an in-memory database or a file that exists."""
    parsed = make_url(url)
    file = parsed.database if parsed.get_backend_name() == "sqlite" else None
    if file in (None, "", ":memory:") or Path(file).exists():
        return None
    return file


def safe_url(url: str | URL) -> str:
    """The URL with its password masked, for messages."""
    return make_url(url).render_as_string(hide_password=True)


def _sqlite_engine(url: URL, *, foreign_keys: bool) -> Engine:
    kwargs: dict[str, Any] = {"json_serializer": _json_dumps}
    if url.database in (None, "", ":memory:"):
        # One shared connection, or every connection would see its own empty database.
        kwargs |= {"poolclass": StaticPool, "connect_args": {"check_same_thread": False}}
    engine = create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Hand BEGIN to SQLAlchemy (below): the sqlite3 module's own transaction handling
        # would start write transactions late and deferred.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        # In WAL mode NORMAL cannot corrupt the file; a power cut may lose the last commits.
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute(f"PRAGMA foreign_keys = {'ON' if foreign_keys else 'OFF'}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        immediate = connection.get_execution_options().get(WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def write_bind(engine: Engine) -> Engine:
    """The engine whose transactions take SQLite's write lock at BEGIN (no-op on PostgreSQL)."""
    return engine.execution_options(**{WRITE_OPTION: True})


@contextmanager
def session_scope(engine: Engine, *, write: bool = False) -> Iterator[Session]:
    """One short transaction: commit on success, roll back on error, always close.

    Pass `write=True` for a transaction that writes, above all one that reads first.
    """
    session = Session(bind=write_bind(engine) if write else engine, expire_on_commit=False)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def dispose_after_fork(*engines: Engine) -> None:
    """Drop the pooled connections a forked child inherited, without closing the parent's.

    With no arguments, every engine this process made. For Celery:
    `worker_process_init.connect(lambda **_: dispose_after_fork())`.
    """
    for engine in engines or tuple(_engines):
        engine.dispose(close=False)
