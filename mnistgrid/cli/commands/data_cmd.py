"""`mnistgrid data ...`: fetch MNIST, describe it, or export it as a fastai PNG tree.

mnistgrid data download
mnistgrid data info --data /path/to/mnist
mnistgrid data export-png mnist_png --data /path/to/mnist

Click alone here; their work is in data_work.py, imported when one runs.
"""

from __future__ import annotations

from pathlib import Path

import click

from mnistgrid.cli.collector import work_beside
from mnistgrid.cli.commands.options import data_option

CACHE_HELP = "where downloads and decoded tensors go [default: MNISTGRID_CACHE_DIR]"
FOLDER = click.Path(path_type=Path, file_okay=False)


work = work_beside(__name__)


@click.group()
def data() -> None:
    """Fetch, inspect and export the MNIST data the jobs train on."""


@data.command()
@click.option("--cache-dir", type=FOLDER, help=CACHE_HELP)
def download(cache_dir: Path | None) -> None:
    """Download the four idx files into the cache, checking each one's md5."""
    work().download(cache_dir)


@data.command()
@data_option
@click.option("--cache-dir", type=FOLDER, help=CACHE_HELP)
def info(data_dir: Path | None, cache_dir: Path | None) -> None:
    """Print each split's size, its count per digit, and the data's checksum."""
    work().info(data_dir, cache_dir)


@data.command("export-png")
@click.argument("out_dir", metavar="DIR", type=FOLDER)
@data_option
@click.option("--cache-dir", type=FOLDER, help=CACHE_HELP)
def export_png_cmd(out_dir: Path, data_dir: Path | None, cache_dir: Path | None) -> None:
    """Write MNIST as DIR/training/<digit>/<index>.png and DIR/testing/<digit>/<index>.png."""
    work().export_pngs(out_dir, data_dir, cache_dir)
