"""Sweeps from the command line: submit a grid, list, watch, cancel and resume.

mnistgrid submit examples/quick.toml --wait
mnistgrid status quick

Click alone here; each command's work is in sweep_work.py, imported when the command runs.
"""

from __future__ import annotations

from pathlib import Path

import click

from mnistgrid.cli.collector import work_beside
from mnistgrid.cli.commands.options import service_options

work = work_beside(__name__)


@click.command()
@click.argument("grid_file", type=click.Path(path_type=Path))
@click.option(
    "--name",
    default=None,
    help="sweep name: 1-200 letters, digits, '.', '_', '-', not all digits "
    "[default: the grid's name, or its file's stem made to fit]",
)
@click.option("--new", is_flag=True, help="if the name exists with another grid, make a new one")
@click.option("--wait", is_flag=True, help="show progress until the sweep ends")
@service_options
def submit(grid_file: Path, name: str | None, new: bool, wait: bool, **services: object) -> None:
    """Validate GRID_FILE, write its sweep and jobs, and queue them."""
    work().submit(grid_file, name, new, wait, services)


@click.command()
@click.argument("sweep")
@service_options
def watch(sweep: str, **services: object) -> None:
    """Live progress bars of SWEEP (id or name) until it ends."""
    work().watch(sweep, services)


@click.command()
@click.argument("sweep", required=False)
@service_options
def status(sweep: str | None, **services: object) -> None:
    """The jobs of SWEEP (id or name), or every sweep when none is given."""
    work().status(sweep, services)


@click.command()
@service_options
def sweeps(**services: object) -> None:
    """List every sweep with its job counts."""
    work().sweeps(services)


@click.command()
@click.argument("sweep")
@service_options
def cancel(sweep: str, **services: object) -> None:
    """Cancel SWEEP: queued jobs never start, running ones stop at the next epoch boundary."""
    work().cancel(sweep, services)


@click.command()
@click.argument("sweep")
@click.option("--wait", is_flag=True, help="show progress until the sweep ends")
@service_options
def resume(sweep: str, wait: bool, **services: object) -> None:
    """Queue again every job of SWEEP that has not finished (from its last checkpoint)."""
    work().resume(sweep, wait, services)
