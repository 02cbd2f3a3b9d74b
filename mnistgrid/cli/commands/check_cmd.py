"""`mnistgrid check`: can this machine reach the store and the broker, as a worker would?

mnistgrid check                 # one line each; exit 1 when either cannot be reached
mnistgrid check --wait 120      # try again until both answer, for a service that starts first

What a worker host runs before its workers start (docker-compose.workers.yml): the same
settings, so the same TLS checks of the servers' certificates, and the schema must be the one
this mnistgrid needs.

Click alone here; the checks are in check_work.py, imported when the command runs.
"""

from __future__ import annotations

import click

from mnistgrid.cli.collector import work_beside
from mnistgrid.cli.commands.options import service_options

work = work_beside(__name__)


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
    work().check(patience, services)
