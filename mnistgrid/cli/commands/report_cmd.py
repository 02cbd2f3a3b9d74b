"""`mnistgrid report`: a sweep's figures, report.md, report.html and results.csv.

    mnistgrid report quick --out reports

SWEEP is an id or a name; the files go to OUT/<sweep name>/ (for a name stored before the name
rule, OUT/<its safe spelling>@<sweep id>/: see mnistgrid/report/paths.py).

Click alone here; the writing is in report_work.py, imported when the command runs.
"""

from __future__ import annotations

from pathlib import Path

import click

from mnistgrid.cli.collector import work_beside
from mnistgrid.cli.commands.options import service_options

work = work_beside(__name__)


@click.command()
@click.argument("sweep")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="reports folder; the report goes to OUT/<sweep name>/ (an old name that breaks the "
    "name rule: OUT/<safe name>@<id>/) "
    "[default: MNISTGRID_REPORTS_DIR, or ./reports]",
)
@service_options
def report(sweep: str, out_dir: Path | None, **services: object) -> None:
    """Write the report of SWEEP (id or name): plots, Markdown, self-contained HTML and CSV."""
    work().report(sweep, out_dir, services)
