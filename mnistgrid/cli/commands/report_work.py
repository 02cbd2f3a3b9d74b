"""What `mnistgrid report` (report_cmd.py) does once it runs: write a sweep's report and say
where it went. Imported then, not with the command: matplotlib, torch and SQLAlchemy are most
of its start, and its `--help` needs none of them.
"""

from __future__ import annotations

from pathlib import Path

import click

from mnistgrid.cli.commands.services import existing_store, settings_from
from mnistgrid.data.datasets import task_loader
from mnistgrid.report.write import write_report


def report(sweep: str, out_dir: Path | None, services: dict[str, object]) -> None:
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
