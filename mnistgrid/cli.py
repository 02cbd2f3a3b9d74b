"""The `mnistgrid` command: one group, each subcommand in its own module under `commands/`.

mnistgrid --help
"""

from __future__ import annotations

import sys

import click

from mnistgrid import __version__
from mnistgrid.commands import (
    data_cmd,
    db_cmd,
    demo_cmd,
    rerun_cmd,
    sweep_cmd,
    train_cmd,
    worker_cmd,
)
from mnistgrid.errors import MnistgridError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mnistgrid")
def cli() -> None:
    """Run grids of MNIST training jobs on a queue of workers, and report what won."""


cli.add_command(train_cmd.train)
cli.add_command(data_cmd.data)
cli.add_command(db_cmd.db)
cli.add_command(worker_cmd.worker)
for command in (
    sweep_cmd.submit,
    sweep_cmd.status,
    sweep_cmd.watch,
    sweep_cmd.sweeps,
    sweep_cmd.cancel,
    sweep_cmd.resume,
    rerun_cmd.rerun,
    demo_cmd.demo,
):
    cli.add_command(command)


def main() -> None:
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except MnistgridError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(error.exit_code)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)


if __name__ == "__main__":
    main()
