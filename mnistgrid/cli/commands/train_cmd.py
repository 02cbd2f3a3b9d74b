"""`mnistgrid train`: one job in this process, a table of its epochs (or `--json`).

mnistgrid train --model linear --loss cross_entropy --lr 1 --epochs 5 --batch-size 256

Click alone here; the training is in train_work.py, imported when the command runs.
"""

from __future__ import annotations

from pathlib import Path

import click

from mnistgrid.cli.collector import work_beside
from mnistgrid.cli.commands.options import data_option
from mnistgrid.spec import GRADIENT_BY_MODEL

work = work_beside(__name__)


@click.command()
@click.option("--model", type=click.Choice(["baseline", "linear", "mlp"]), default="linear")
@click.option(
    "--loss",
    type=click.Choice(["mnist_loss", "softmax_mse", "cross_entropy"]),
    default="cross_entropy",
)
@click.option("--lr", type=float, default=1.0, show_default=True)
@click.option("--epochs", type=int, default=5, show_default=True)
@click.option("--batch-size", type=int, default=256, show_default=True)
@click.option("--hidden", type=int, default=64, show_default=True, help="mlp hidden units")
@click.option("--activation", type=click.Choice(["sigmoid", "relu"]), default="sigmoid")
@click.option(
    "--distance", type=click.Choice(["mae", "mse"]), default="mse", help="baseline distance"
)
@click.option("--digits", default=None, help="a digit pair such as 3,7 (default: all ten)")
@click.option(
    "--valid",
    default="test",
    show_default=True,
    help="'test', or a fraction of the training split",
)
@click.option("--normalize/--no-normalize", default=False)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--init-std", type=float, default=1.0, show_default=True)
@click.option(
    "--gradient",
    type=click.Choice(["autograd", "manual"]),
    default=None,
    help="default: the model's faster way ("
    + ", ".join(f"{m}: {g}" for m, g in GRADIENT_BY_MODEL.items() if m != "baseline")
    + ")",
)
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto")
@data_option
@click.option("--json", "as_json", is_flag=True, help="print one JSON document instead")
def train(data_dir: Path | None, as_json: bool, **options: object) -> None:
    """Train one job in this process and print its epochs."""
    work().train(data_dir, as_json, options)
