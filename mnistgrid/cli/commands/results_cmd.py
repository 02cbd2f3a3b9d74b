"""Results out of the store: a sweep's jobs or epochs as a file, and sweeps compared.

    mnistgrid export seeds --format csv --out seeds-jobs.csv
    mnistgrid export seeds --epochs --format parquet --out seeds-epochs.parquet
    mnistgrid export seeds --format jsonl | jq .best_acc
    mnistgrid compare seeds seeds-asha

Both read through the results API (mnistgrid/results/) and write nothing to the store.

Click alone here; their work is in results_work.py, imported when one runs.
"""

from __future__ import annotations

from pathlib import Path

import click

from mnistgrid.cli.collector import work_beside
from mnistgrid.results.formats import FORMATS

database_option = click.option("--database-url", default=None, help="[env MNISTGRID_DATABASE_URL]")


work = work_beside(__name__)


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
    work().export(sweep, table, fmt, out, database_url)


@click.command()
@click.argument("sweeps", nargs=-1, required=True)
@database_option
def compare(sweeps: tuple[str, ...], database_url: str | None) -> None:
    """Compare SWEEPS (two or more): each family's best, epochs and time, against the first."""
    work().compare(sweeps, database_url)
