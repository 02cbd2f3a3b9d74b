"""`mnistgrid data ...`: fetch MNIST, describe it, or export it as a fastai PNG tree.

mnistgrid data download
mnistgrid data info --data /path/to/mnist
mnistgrid data export-png mnist_png --data /path/to/mnist
"""

from __future__ import annotations

from pathlib import Path

import click
import torch

from mnistgrid.cli.commands.options import data_option
from mnistgrid.data.download import download_mnist
from mnistgrid.data.mnist_source import load_mnist
from mnistgrid.data.png_tree import SPLIT_DIRS, export_png
from mnistgrid.errors import BadInput
from mnistgrid.settings import Settings, load_settings

CACHE_HELP = "where downloads and decoded tensors go [default: MNISTGRID_CACHE_DIR]"
FOLDER = click.Path(path_type=Path, file_okay=False)


@click.group()
def data() -> None:
    """Fetch, inspect and export the MNIST data the jobs train on."""


@data.command()
@click.option("--cache-dir", type=FOLDER, help=CACHE_HELP)
def download(cache_dir: Path | None) -> None:
    """Download the four idx files into the cache, checking each one's md5."""
    settings = load_settings().with_overrides(cache_dir=cache_dir)
    folder = settings.cache_dir / "mnist"
    download_mnist(settings.mirrors, folder)
    click.echo(f"MNIST is in {folder}")


@data.command()
@data_option
@click.option("--cache-dir", type=FOLDER, help=CACHE_HELP)
def info(data_dir: Path | None, cache_dir: Path | None) -> None:
    """Print each split's size, its count per digit, and the data's checksum."""
    settings = _settings(data_dir, cache_dir)
    splits = load_mnist(settings.data_dir, settings.cache_dir, settings.mirrors)
    click.echo(f"source    {settings.data_dir or settings.cache_dir / 'mnist'}")
    click.echo(f"checksum  {splits.checksum}")
    click.echo("split     total  " + "".join(f"{d:>7}" for d in range(10)))
    for name, labels in (("train", splits.train_labels), ("test", splits.test_labels)):
        counts = torch.bincount(labels, minlength=10).tolist()
        click.echo(f"{name:<8}{len(labels):>7}  " + "".join(f"{c:>7}" for c in counts))


@data.command("export-png")
@click.argument("out_dir", metavar="DIR", type=FOLDER)
@data_option
@click.option("--cache-dir", type=FOLDER, help=CACHE_HELP)
def export_png_cmd(out_dir: Path, data_dir: Path | None, cache_dir: Path | None) -> None:
    """Write MNIST as DIR/training/<digit>/<index>.png and DIR/testing/<digit>/<index>.png."""
    _refuse_existing_tree(out_dir)
    settings = _settings(data_dir, cache_dir)
    splits = load_mnist(settings.data_dir, settings.cache_dir, settings.mirrors)
    written = export_png(splits, out_dir)
    click.echo(f"wrote {written} PNGs to {out_dir}")


def _settings(data_dir: Path | None, cache_dir: Path | None) -> Settings:
    return load_settings().with_overrides(data_dir=data_dir, cache_dir=cache_dir)


def _refuse_existing_tree(out_dir: Path) -> None:
    # Files left from another export would silently join this one when the tree is read back.
    for name in SPLIT_DIRS:
        split_dir = out_dir / name
        if split_dir.exists() and any(split_dir.iterdir()):
            raise BadInput(f"{split_dir} is not empty; remove it or export to another folder")
