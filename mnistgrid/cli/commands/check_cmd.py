"""`mnistgrid check`: can this machine reach the store and the broker, as a worker would?

mnistgrid check                 # one line each; exit 1 when either cannot be reached
mnistgrid check --wait 120      # try again until both answer, for a service that starts first

What a worker host runs before its workers start (docker-compose.workers.yml): the same
settings, so the same TLS checks of the servers' certificates, and the schema must be the one
this mnistgrid needs.
"""

from __future__ import annotations

import sys
import time

import click
from sqlalchemy.exc import ArgumentError

from db.engine import safe_url
from db.store import Store
from mnistgrid.cli.commands.options import service_options
from mnistgrid.cli.commands.services import require_database, settings_from
from mnistgrid.errors import MnistgridError
from mnistgrid.queue.app import make_celery
from mnistgrid.queue.publish import check_broker
from mnistgrid.settings import Settings

RETRY_SECONDS = 2.0


@click.command()
@click.option(
    "--wait",
    "patience",
    type=click.FloatRange(min=0),
    default=0,
    show_default=True,
    help="seconds to keep trying until both answer",
)
@service_options
def check(patience: float, **services: object) -> None:
    """Check that the store and the broker answer, with this machine's settings."""
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
