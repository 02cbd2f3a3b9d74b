"""The `mnistgrid` command: one group, each subcommand in its own module under `commands/`.

    mnistgrid --help

Subcommands are imported when they run, so that `mnistgrid submit` with a bad grid answers
without first importing torch.
"""

from __future__ import annotations

import importlib
import sys

import click

from mnistgrid import __version__
from mnistgrid.errors import MnistgridError

COMMANDS = {
    "demo": "demo_cmd:demo",
    "train": "train_cmd:train",
    "worker": "worker_cmd:worker",
    "submit": "sweep_cmd:submit",
    "status": "sweep_cmd:status",
    "watch": "sweep_cmd:watch",
    "sweeps": "sweep_cmd:sweeps",
    "cancel": "sweep_cmd:cancel",
    "resume": "sweep_cmd:resume",
    "rerun": "rerun_cmd:rerun",
    "report": "report_cmd:report",
    "db": "db_cmd:db",
    "data": "data_cmd:data",
}


class LazyGroup(click.Group):
    """A group that imports a subcommand's module only when that subcommand is used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attribute = COMMANDS[name].split(":")
        return getattr(importlib.import_module(f"mnistgrid.commands.{module}"), attribute)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mnistgrid")
def cli() -> None:
    """Run grids of MNIST training jobs on a queue of workers, and report what won."""


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
