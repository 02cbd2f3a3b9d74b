"""`mnistgrid db ...`: bring the database's schema to this mnistgrid's, or say where it is.

mnistgrid db upgrade --database-url postgresql+psycopg://postgres@127.0.0.1:5432/mnistgrid
MNISTGRID_READONLY_DATABASE_URL=postgresql+psycopg://reader:PASS@127.0.0.1/mnistgrid \
    mnistgrid db upgrade      # ... and a role that may only read (db/roles.py)
mnistgrid db current
"""

from __future__ import annotations

import click

from db.engine import safe_url
from db.migrate import current_revision, head_revision, known_revisions, upgrade
from db.roles import grant_readonly
from mnistgrid.cli.commands.services import require_database
from mnistgrid.settings import load_settings

database_url_option = click.option(
    "--database-url",
    default=None,
    metavar="URL",
    help="Database to use (default: MNISTGRID_DATABASE_URL, else sqlite:///mnistgrid.db).",
)


def resolve_url(database_url: str | None) -> str:
    return load_settings().with_overrides(database_url=database_url).database_url


@click.group()
def db() -> None:
    """Create and upgrade the database schema."""


@db.command("upgrade")
@database_url_option
def upgrade_cmd(database_url: str | None) -> None:
    """Migrate the database to this mnistgrid's schema (creates the tables in a new one).

    With MNISTGRID_READONLY_DATABASE_URL set, also create or refresh that read-only role.
    """
    settings = load_settings().with_overrides(database_url=database_url)
    url = settings.database_url
    before = current_revision(url)
    after = upgrade(url)
    where = safe_url(url)
    if before == after:
        click.echo(f"{where}: schema already at {after}")
    else:
        click.echo(f"{where}: schema upgraded from {before or 'base'} to {after}")
    if settings.readonly_database_url is not None:
        role = grant_readonly(url, settings.readonly_database_url)
        click.echo(
            f"{where}: role {role.name} may read the {role.tables} tables of schema "
            f"{role.schema} (and later ones), and write nothing"
        )


@db.command("current")
@database_url_option
def current_cmd(database_url: str | None) -> None:
    """Print the database's schema revision and whether it is the one this mnistgrid needs."""
    url = resolve_url(database_url)
    require_database(url)
    current = current_revision(url)
    head = head_revision()
    if current == head:
        state = "current"
    elif current is not None and current not in known_revisions():
        state = f"newer than this mnistgrid, which knows up to {head}"
    else:
        state = f"this mnistgrid needs {head}: run `mnistgrid db upgrade`"
    click.echo(f"{safe_url(url)}: schema at {current or 'base'} ({state})")
