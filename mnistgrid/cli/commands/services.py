"""The settings and the store of a command that talks to the database, the broker or the data,
from its options (options.py) and the MNISTGRID_* environment."""

from __future__ import annotations

import os
from pathlib import Path

from db.engine import missing_sqlite_file
from db.store import Store
from mnistgrid.errors import NotFound
from mnistgrid.settings import Settings, load_settings


def settings_from(
    database_url: str | None, broker_url: str | None, data_dir: Path | None
) -> Settings:
    """Settings with the CLI's overrides, exported so that processes started from here agree."""
    settings = load_settings().with_overrides(
        database_url=database_url, broker_url=broker_url, data_dir=data_dir
    )
    os.environ.update(settings.as_environment())
    return settings


def require_database(database_url: str) -> None:
    """A SQLite file that is not there is a mistyped path, not a new database to create."""
    file = missing_sqlite_file(database_url)
    if file is not None:
        raise NotFound(f"no database at {file} (MNISTGRID_DATABASE_URL)")


def existing_store(settings: Settings) -> Store:
    """The store of a command that reads or steers what was submitted."""
    require_database(settings.database_url)
    return Store(settings.database_url)
