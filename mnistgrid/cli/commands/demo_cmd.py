"""`mnistgrid demo`: the whole distributed job on one machine with no servers at all.

    mnistgrid demo

SQLite for the store, kombu's filesystem transport for the broker and local `mnistgrid worker`
processes: the same task code and the same path through a broker as in production, not Celery's
eager mode. Everything it writes stays under `./mnistgrid-demo`.

Click alone here; the run is in demo_work.py, imported when the command runs.
"""

from __future__ import annotations

from pathlib import Path

import click

from mnistgrid.cli.collector import work_beside
from mnistgrid.cli.commands.options import data_option

# The repository (or /app in the image) holds examples/ beside the packages.
QUICK_GRID = Path(__file__).resolve().parents[3] / "examples" / "quick.toml"


work = work_beside(__name__)


@click.command()
@click.option(
    "--dir",
    "folder",
    type=click.Path(path_type=Path),
    default=Path("mnistgrid-demo"),
    show_default=True,
    help="where the database, broker and report go",
)
@click.option(
    "--grid",
    "grid_file",
    type=click.Path(path_type=Path),
    default=QUICK_GRID,
    help="grid file [default: examples/quick.toml]",
)
@click.option("--workers", "n_workers", type=click.IntRange(1, 64), default=2, show_default=True)
@data_option
def demo(folder: Path, grid_file: Path, n_workers: int, data_dir: Path | None) -> None:
    """Run a grid end to end with no servers: SQLite, a filesystem broker, local workers."""
    work().demo(folder, grid_file, n_workers, data_dir)
