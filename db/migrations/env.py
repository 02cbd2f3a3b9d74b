"""Alembic's entry point, loaded by `db.migrate` (no alembic.ini: the config is built in code).

`db.migrate` passes an open connection inside a transaction that holds the write lock; a config
with only `sqlalchemy.url` (e.g. `make_config(url)` for `alembic revision --autogenerate`) gets
an engine of its own. Offline (`--sql`) mode is not supported.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from db.engine import make_engine
from db.models import Base


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        # SQLite cannot ALTER most things: later revisions rebuild tables in batch mode.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    if context.is_offline_mode():
        raise RuntimeError("mnistgrid migrations run online only")
    connection = context.config.attributes.get("connection")
    if connection is not None:
        run_migrations(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no connection and no sqlalchemy.url: use db.migrate.make_config")
    engine = make_engine(url, foreign_keys=False)
    try:
        with engine.connect() as new_connection:
            run_migrations(new_connection)
            new_connection.commit()
    finally:
        engine.dispose()


main()
