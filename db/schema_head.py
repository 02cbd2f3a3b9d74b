"""The schema revision this mnistgrid needs, and a cheap look at a database's, without Alembic.

Importing Alembic (db/migrate.py) costs a command a third of its start-up, and nearly every
command only needs to know that the schema is current: one row of `alembic_version`. Only when
it is not does the store import db/migrate.py. tests/unit/test_schema_head.py holds `HEAD` to
Alembic's own head, so a new migration cannot forget it.
"""

from __future__ import annotations

from sqlalchemy import Engine, exc, text

HEAD = "0006"


def schema_is_current(engine: Engine) -> bool:
    """Whether the database is at `HEAD`; False for anything else, an unreachable database
    included (db/migrate.py's `ensure_current` then says which, in one line)."""
    try:
        with engine.connect() as connection:
            return connection.scalar(text("SELECT version_num FROM alembic_version")) == HEAD
    except exc.DBAPIError:
        return False
