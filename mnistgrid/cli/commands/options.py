"""Options shared by the commands that talk to the database, the broker or the data."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import click
from sqlalchemy.engine import make_url

from db.store import Store
from mnistgrid.errors import NotFound
from mnistgrid.settings import Settings, load_settings

F = TypeVar("F", bound=Callable[..., object])


# `--data DIR`: where MNIST is, for every command that loads it (the parameter is `data_dir`).
data_option = click.option(
    "--data",
    "data_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="MNIST idx folder or fastai PNG tree [env MNISTGRID_DATA_DIR; default: download]",
)


def service_options(command: F) -> F:
    """`--database-url`, `--broker-url`, `--data`: each overrides its MNISTGRID_* variable."""
    for option in reversed(
        [
            click.option("--database-url", default=None, help="[env MNISTGRID_DATABASE_URL]"),
            click.option("--broker-url", default=None, help="[env MNISTGRID_BROKER_URL]"),
            data_option,
        ]
    ):
        command = option(command)
    return command


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
    url = make_url(database_url)
    file = url.database if url.get_backend_name() == "sqlite" else None
    if file not in (None, "", ":memory:") and not Path(file).exists():
        raise NotFound(f"no database at {file} (MNISTGRID_DATABASE_URL)")


def existing_store(settings: Settings) -> Store:
    """The store of a command that reads or steers what was submitted."""
    require_database(settings.database_url)
    return Store(settings.database_url)
