"""`mnistgrid db ...`: bring the database's schema to this mnistgrid's, or say where it is.

mnistgrid db upgrade --database-url postgresql+psycopg://postgres@127.0.0.1:5432/mnistgrid
MNISTGRID_READONLY_DATABASE_URL=postgresql+psycopg://reader:PASS@127.0.0.1/mnistgrid \
    mnistgrid db upgrade      # ... and a role that may only read (db/roles.py)
mnistgrid db current

Click alone here; their work is in db_work.py, imported when one runs.
"""

from __future__ import annotations

import click

from mnistgrid.cli.collector import work_beside

database_url_option = click.option(
    "--database-url",
    default=None,
    metavar="URL",
    help="Database to use (default: MNISTGRID_DATABASE_URL, else sqlite:///mnistgrid.db).",
)


work = work_beside(__name__)


@click.group()
def db() -> None:
    """Create and upgrade the database schema."""


@db.command("upgrade")
@database_url_option
def upgrade_cmd(database_url: str | None) -> None:
    """Migrate the database to this mnistgrid's schema (creates the tables in a new one).

    With MNISTGRID_READONLY_DATABASE_URL set, also create or refresh that read-only role.
    """
    work().upgrade_schema(database_url)


@db.command("current")
@database_url_option
def current_cmd(database_url: str | None) -> None:
    """Print the database's schema revision and whether it is the one this mnistgrid needs."""
    work().current(database_url)
