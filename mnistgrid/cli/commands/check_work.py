"""What `mnistgrid check` (check_cmd.py) does once it runs: try the store and the broker until
both answer or the wait is over, and say how each did. Imported then, not with the command:
SQLAlchemy and Celery are most of its start, and its `--help` needs neither.
"""

from __future__ import annotations

import sys
import time

import click
from sqlalchemy.exc import ArgumentError

from db.engine import safe_url
from db.store import Store
from mnistgrid.cli.commands.services import require_database, settings_from
from mnistgrid.errors import MnistgridError
from mnistgrid.queue.app import make_celery
from mnistgrid.queue.publish import check_broker
from mnistgrid.settings import Settings

RETRY_SECONDS = 2.0


def check(patience: float, services: dict[str, object]) -> None:
    settings = settings_from(**services)
    deadline = time.monotonic() + patience
    while True:
        problems = dict(filter(None, (store_problem(settings), broker_problem(settings))))
        if not problems or time.monotonic() >= deadline:
            break
        time.sleep(RETRY_SECONDS)
    for what, url in (("store", settings.database_url), ("broker", settings.broker_url)):
        shown = describe(url)
        if what not in problems:
            click.echo(f"{what}: ok, {shown}")
        elif shown in problems[what]:
            click.echo(f"{what}: {problems[what]}", err=True)
        else:
            click.echo(f"{what}: {problems[what]} ({shown})", err=True)
    if problems:
        sys.exit(1)


def store_problem(settings: Settings) -> tuple[str, str] | None:
    try:
        require_database(settings.database_url)
        Store(settings.database_url).close()  # connects, and refuses a schema that is behind
    except MnistgridError as error:
        return "store", f"error: {error}"
    except Exception as error:  # noqa: BLE001 - the driver's own: said in one line
        return "store", f"error: {one_line(error)}"
    return None


def broker_problem(settings: Settings) -> tuple[str, str] | None:
    try:
        check_broker(make_celery(settings))
    except MnistgridError as error:
        return "broker", f"error: {error}"
    return None


def describe(url: str) -> str:
    """The URL with its password hidden (its TLS options show: sslmode, rediss)."""
    try:
        return safe_url(url)
    except ArgumentError:
        return "a URL that does not parse"


def one_line(error: Exception) -> str:
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return f"{type(error).__name__}: {lines[0] if lines else ''}"
