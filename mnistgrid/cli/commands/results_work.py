"""What the results commands (results_cmd.py) do once one runs: write a sweep's jobs or epochs
as a file, and compare sweeps. Imported then, not with the commands: SQLAlchemy and rich are
most of their start, and their `--help` needs neither.
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
from mnistgrid.results.export import check_format
from mnistgrid.results.export import export as export_table


def results_from(database_url: str | None) -> Results:
    settings = settings_from(database_url=database_url, broker_url=None, data_dir=None)
    return Results(settings.database_url)


def export(sweep: str, table: str, fmt: str, out: Path | None, database_url: str | None) -> None:
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


def compare(sweeps: tuple[str, ...], database_url: str | None) -> None:
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
