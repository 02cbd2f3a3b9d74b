"""`mnistgrid rerun JOB`: train a stored job again in this process, from what it recorded.

mnistgrid rerun 12

Click alone here; the rerun is in rerun_work.py, imported when the command runs.
"""

from __future__ import annotations

import click

from mnistgrid.cli.collector import work_beside
from mnistgrid.cli.commands.options import service_options

work = work_beside(__name__)


@click.command()
@click.argument("job_id", type=int)
@service_options
def rerun(job_id: int, **services: object) -> None:
    """Train job JOB_ID again with its stored seed and configuration, and compare."""
    work().rerun(job_id, services)
