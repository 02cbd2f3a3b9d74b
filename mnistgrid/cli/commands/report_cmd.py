"""`mnistgrid report`: a sweep's figures, report.md, report.html and results.csv.

    mnistgrid report quick --out reports

SWEEP is an id or a name; the files go to OUT/<sweep name>/ (for a name stored before the name
rule, OUT/<its safe spelling>@<sweep id>/: see mnistgrid/report/paths.py).
"""

from __future__ import annotations

from pathlib import Path

import click

from mnistgrid.cli.commands.options import service_options
from mnistgrid.cli.commands.services import existing_store, settings_from
from mnistgrid.data.datasets import task_loader
from mnistgrid.report.write import write_report


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
    settings = settings_from(**services)
    with existing_store(settings) as store:
        info = store.get_sweep(sweep)
        paths = write_report(
            store, info.sweep_id, out_dir or settings.reports_dir, load_data=task_loader(settings)
        )
    state = "" if info.status == "finished" else f" (sweep {info.status})"
    click.echo(
        f"report of sweep {info.name} (id {info.sweep_id}){state}:\n"
        f"  html:     {paths.html}\n  markdown: {paths.markdown}\n"
        f"  csv:      {paths.csv}"
    )
