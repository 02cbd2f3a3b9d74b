"""The `mnistgrid` command (the top floor): one group, each subcommand in its own module under
`commands/`.

    mnistgrid --help

Subcommands are imported when they are named, and `mnistgrid --help` imports none of them. A
subcommand's module is its click interface alone; the module that does its work (`*_work.py`
beside it) is imported when it runs, so that its `--help` and its checks of the arguments answer
in a tenth of a second, without SQLAlchemy, Celery or torch.
"""

from __future__ import annotations

import gc
import importlib
import sys

import click

from mnistgrid import __version__
from mnistgrid.cli.collector import resume_collector
from mnistgrid.errors import MnistgridError

# name -> (module:attribute under mnistgrid.cli.commands, the summary `mnistgrid --help` lists;
# tests/unit/test_cli.py checks it against the command's own help).
COMMANDS = {
    "demo": (
        "demo_cmd:demo",
        "Run a grid end to end with no servers: SQLite, a filesystem broker, local workers.",
    ),
    "train": ("train_cmd:train", "Train one job in this process and print its epochs."),
    "worker": (
        "worker_cmd:worker",
        "Start a worker that trains the jobs it takes off the queue.",
    ),
    "submit": (
        "sweep_cmd:submit",
        "Validate GRID_FILE, write its sweep and jobs, and queue them.",
    ),
    "status": (
        "sweep_cmd:status",
        "The jobs of SWEEP (id or name), or every sweep when none is given.",
    ),
    "watch": ("sweep_cmd:watch", "Live progress bars of SWEEP (id or name) until it ends."),
    "sweeps": ("sweep_cmd:sweeps", "List every sweep with its job counts."),
    "cancel": (
        "sweep_cmd:cancel",
        "Cancel SWEEP: queued jobs never start, running ones stop at the next epoch boundary.",
    ),
    "resume": (
        "sweep_cmd:resume",
        "Queue again every job of SWEEP that has not finished (from its last checkpoint).",
    ),
    "rerun": (
        "rerun_cmd:rerun",
        "Train job JOB_ID again with its stored seed and configuration, and compare.",
    ),
    "report": (
        "report_cmd:report",
        "Write the report of SWEEP (id or name): plots, Markdown, self-contained HTML and CSV.",
    ),
    "export": (
        "results_cmd:export",
        "Write the jobs (or --epochs) of SWEEP as CSV, JSONL or parquet, streamed.",
    ),
    "compare": (
        "results_cmd:compare",
        "Compare SWEEPS (two or more): each family's best, epochs and time, against the first.",
    ),
    "serve": (
        "serve_cmd:serve",
        "Serve a live, read-only web view of the sweeps: tables, learning curves, figures.",
    ),
    "check": (
        "check_cmd:check",
        "Check that the store and the broker answer, with this machine's settings.",
    ),
    "db": ("db_cmd:db", "Create and upgrade the database schema."),
    "data": ("data_cmd:data", "Fetch, inspect and export the MNIST data the jobs train on."),
}


class LazyGroup(click.Group):
    """A group that imports a subcommand's module only when that subcommand is used; its help
    lists the summaries above instead of importing every command (torch among them)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attribute = COMMANDS[name][0].split(":")
        command = importlib.import_module(f"mnistgrid.cli.commands.{module}")
        resume_collector()
        return getattr(command, attribute)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, summary) for name, (_, summary) in COMMANDS.items()])


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mnistgrid")
def cli() -> None:
    """Run grids of MNIST training jobs on a queue of workers, and report what won."""


def main() -> None:
    gc.disable()  # for the command's imports (mnistgrid/cli/collector.py)
    try:
        run()
    finally:
        # The interpreter's last collections at exit took 0.15 s, more than most commands'
        # work: what is still alive now is freed with the process instead.
        gc.freeze()


def run() -> None:
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
