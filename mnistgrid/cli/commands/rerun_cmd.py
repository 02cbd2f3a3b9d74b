"""`mnistgrid rerun JOB`: train a stored job again in this process, from what it recorded.

mnistgrid rerun 12

Click alone here; the rerun is in rerun_work.py, imported when the command runs.
"""

from __future__ import annotations

from types import ModuleType

import click

from mnistgrid.cli.collector import import_work
from mnistgrid.cli.commands.options import service_options


def work() -> ModuleType:
    return import_work("mnistgrid.cli.commands.rerun_work")


@click.command()
@click.argument("job_id", type=int)
@service_options
def rerun(job_id: int, **services: object) -> None:
    """Train job JOB_ID again with its stored seed and configuration, and compare."""
    work().rerun(job_id, services)
