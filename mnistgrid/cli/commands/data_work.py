"""What the `mnistgrid data` commands (data_cmd.py) do once one runs: download MNIST, describe
it, export it as PNGs. Imported then, not with the commands: torch is most of their start, and
their `--help` needs none of it.
"""

from __future__ import annotations

from pathlib import Path

import click
import torch

from mnistgrid.data.download import download_mnist
from mnistgrid.data.mnist_source import load_mnist
from mnistgrid.data.png_tree import SPLIT_DIRS, export_png
from mnistgrid.errors import BadInput
from mnistgrid.settings import Settings, load_settings


def download(cache_dir: Path | None) -> None:
    settings = load_settings().with_overrides(cache_dir=cache_dir)
    folder = settings.cache_dir / "mnist"
    download_mnist(settings.mirrors, folder)
    click.echo(f"MNIST is in {folder}")


def info(data_dir: Path | None, cache_dir: Path | None) -> None:
    settings = _settings(data_dir, cache_dir)
    splits = load_mnist(settings.data_dir, settings.cache_dir, settings.mirrors)
    click.echo(f"source    {settings.data_dir or settings.cache_dir / 'mnist'}")
    click.echo(f"checksum  {splits.checksum}")
    click.echo("split     total  " + "".join(f"{d:>7}" for d in range(10)))
    for name, labels in (("train", splits.train_labels), ("test", splits.test_labels)):
        counts = torch.bincount(labels, minlength=10).tolist()
        click.echo(f"{name:<8}{len(labels):>7}  " + "".join(f"{c:>7}" for c in counts))


def export_pngs(out_dir: Path, data_dir: Path | None, cache_dir: Path | None) -> None:
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
