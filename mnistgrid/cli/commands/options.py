"""Options shared by the commands that talk to the database, the broker or the data.

Click alone: a command's `--help` and its checks of its arguments import nothing else
(services.py turns the options into settings and a store once the command runs).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import click

F = TypeVar("F", bound=Callable[..., object])


# `--data DIR`: where MNIST is, for every command that loads it (the parameter is `data_dir`).
data_option = click.option(
    "--data",
    "data_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="MNIST idx folder or fastai PNG tree [env MNISTGRID_DATA_DIR; default: download]",
)


def service_options(command: F) -> F:
    """`--database-url`, `--broker-url`, `--data`: each overrides its MNISTGRID_* variable."""
    for option in reversed(
        [
            click.option("--database-url", default=None, help="[env MNISTGRID_DATABASE_URL]"),
            click.option("--broker-url", default=None, help="[env MNISTGRID_BROKER_URL]"),
            data_option,
        ]
    ):
        command = option(command)
    return command
