"""Results out of the store: a sweep's jobs or epochs as a file, and sweeps compared.

    mnistgrid export seeds --format csv --out seeds-jobs.csv
    mnistgrid export seeds --epochs --format parquet --out seeds-epochs.parquet
    mnistgrid export seeds --format jsonl | jq .best_acc
    mnistgrid compare seeds seeds-asha

Both read through the results API (mnistgrid/results/) and write nothing to the store.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from mnistgrid.cli.commands.services import settings_from
from mnistgrid.errors import BadInput
from mnistgrid.results import Results
from mnistgrid.results.compare import Comparison, family_lines, sweep_lines
from mnistgrid.results.compare import compare as compare_sweeps
from mnistgrid.results.export import FORMATS, check_format
from mnistgrid.results.export import export as export_table

database_option = click.option("--database-url", default=None, help="[env MNISTGRID_DATABASE_URL]")


def results_from(database_url: str | None) -> Results:
    settings = settings_from(database_url=database_url, broker_url=None, data_dir=None)
    return Results(settings.database_url)


@click.command()
@click.argument("sweep")
@click.option("--epochs", "table", flag_value="epochs", help="a row per job and epoch")
@click.option("--jobs", "table", flag_value="jobs", default=True, help="a row per job [default]")
@click.option(
    "--format",
    "fmt",
    default="csv",
    show_default=True,
    help=f"{' | '.join(FORMATS)} (parquet needs pyarrow: pip install 'mnistgrid[parquet]')",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="the file to write [default: standard output]",
)
@database_option
def export(sweep: str, table: str, fmt: str, out: Path | None, database_url: str | None) -> None:
    """Write the jobs (or --epochs) of SWEEP as CSV, JSONL or parquet, streamed."""
    check_format(fmt)  # before the store is opened: nothing is read or written
    if out is None and fmt == "parquet" and sys.stdout.isatty():
        raise BadInput("parquet is binary: give --out FILE, or redirect standard output")
    if out is not None and out.parent and not out.parent.is_dir():
        raise BadInput(f"no folder {out.parent} for {out.name}")
    with results_from(database_url) as results:
        found = results.sweep(sweep)  # an unknown sweep: one line, nothing written
        try:
            n = export_table(results, found.sweep_id, table, fmt, out, sys.stdout.buffer)
        except BrokenPipeError:
            # The reader went away (`| head`): stop quietly, as other tools in a pipe do.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return
        name = found.name
    if out is not None:
        click.echo(f"{n:,} {table} of sweep {name} -> {out}", err=True)


@click.command()
@click.argument("sweeps", nargs=-1, required=True)
@database_option
def compare(sweeps: tuple[str, ...], database_url: str | None) -> None:
    """Compare SWEEPS (two or more): each family's best, epochs and time, against the first."""
    with results_from(database_url) as results:
        comparison = compare_sweeps(results, list(sweeps))
    console = Console(soft_wrap=True, width=None if Console().is_terminal else 160)
    console.print(families_table(comparison))
    console.print(sweeps_table(comparison))


def families_table(comparison: Comparison) -> Table:
    first = comparison.sweeps[0].name
    table = Table(title=f"Best job per family (differences: against {first})")
    for header, justify in (
        ("family", "left"),
        ("sweep", "left"),
        ("best acc", "right"),
        ("vs first", "right"),
        ("configuration", "left"),
        ("job", "right"),
        ("epochs", "right"),
        ("vs first", "right"),
        ("train time", "right"),
    ):
        table.add_column(header, justify=justify)  # type: ignore[arg-type]
    previous = None
    for line in family_lines(comparison):
        if previous is not None and line.family != previous:
            table.add_section()
        family = line.family if line.family != previous else ""
        previous = line.family
        job = "" if line.job_id is None else f"#{line.job_id}"
        table.add_row(family, line.sweep, line.best, line.gain, line.config, job,
                      line.epochs, line.epochs_vs, line.seconds)  # fmt: skip
    return table


def sweeps_table(comparison: Comparison) -> Table:
    table = Table(title="Sweeps")
    for header in ("sweep", "status", "rule", "jobs", "stopped", "epochs trained", "of planned",
                   "vs first", "train time", "wall time", "vs first"):  # fmt: skip
        table.add_column(
            header, justify="left" if header in ("sweep", "status", "rule") else "right"
        )
    for line in sweep_lines(comparison):
        table.add_row(line.sweep, line.status, line.rule, str(line.jobs), str(line.stopped),
                      line.epochs, line.planned, line.epochs_vs, line.train_time,
                      line.wall_time, line.wall_vs)  # fmt: skip
    return table
