"""What `mnistgrid rerun` (rerun_cmd.py) does once it runs: train a stored job again here and
set its accuracy beside the stored one. Imported then, not with the command: torch, SQLAlchemy
and rich are most of its start, and its `--help` needs none of them.
"""

from __future__ import annotations

from rich.console import Console

from db.records import MAX_ID
from mnistgrid.cli.commands.services import existing_store, settings_from
from mnistgrid.cli.commands.train_work import EpochPrinter
from mnistgrid.core.learner import use_threads
from mnistgrid.core.training import train_jobs
from mnistgrid.data.datasets import load_task
from mnistgrid.errors import NotFound
from mnistgrid.spec import JobSpec


def rerun(job_id: int, services: dict[str, object]) -> None:
    settings = settings_from(**services)
    if not 0 < job_id <= MAX_ID:  # no such job, and no number to send to the database
        raise NotFound(f"no job {job_id}")
    job = existing_store(settings).get_job(job_id)
    spec = JobSpec.model_validate(job.params)
    use_threads(settings.torch_threads)
    data = load_task(settings.data_dir, settings.cache_dir, spec.data)
    console = Console(soft_wrap=True)
    recorded = job.run_info or {}
    if recorded.get("data_checksum") not in (None, data.checksum):
        console.print(
            "[yellow]warning: this data differs from the data the job saw "
            f"(checksum {data.checksum[:12]} vs {recorded['data_checksum'][:12]})[/]"
        )
    (result,) = train_jobs([spec], data, EpochPrinter(console, data.classes))
    EpochPrinter.summary(console, spec, result, data.classes)
    if job.final_acc is not None and result.final is not None:
        console.print(
            f"stored final accuracy {job.final_acc:.4f} "
            f"({recorded.get('device', '?')}, torch {recorded.get('torch', '?')}); "
            f"this run {result.final.valid_acc:.4f}"
        )
