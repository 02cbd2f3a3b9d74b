"""What the `mnistgrid db` commands (db_cmd.py) do once one runs: migrate the schema, or say
where it is. Imported then, not with the commands: SQLAlchemy and Alembic are most of their
start, and their `--help` needs neither.
"""

from __future__ import annotations

import click

from db.engine import safe_url
from db.migrate import current_revision, head_revision, known_revisions, upgrade
from db.roles import grant_readonly
from mnistgrid.cli.commands.services import require_database
from mnistgrid.settings import load_settings


def resolve_url(database_url: str | None) -> str:
    return load_settings().with_overrides(database_url=database_url).database_url


def upgrade_schema(database_url: str | None) -> None:
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


def current(database_url: str | None) -> None:
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
