"""results.csv: one row per job, for a spreadsheet or pandas. Empty cells: not applicable."""

from __future__ import annotations

import csv
from pathlib import Path

from mnistgrid.report.gather import JobResult

COLUMNS = (
    "job_id",
    "model",
    "loss",
    "lr",
    "hidden",
    "activation",
    "distance",
    "seed",
    "batch_size",
    "status",
    "final_acc",
    "best_acc",
    "best_epoch",
    "seconds",
    "error",
)


def csv_row(job: JobResult) -> dict[str, object]:
    spec = job.spec
    trained, mlp = spec.model != "baseline", spec.model == "mlp"
    return {
        "job_id": job.job_id,
        "model": spec.model,
        "loss": spec.loss if trained else "",
        "lr": repr(spec.lr) if trained else "",
        "hidden": spec.hidden if mlp else "",
        "activation": spec.activation if mlp else "",
        "distance": spec.distance if not trained else "",
        "seed": spec.seed if trained else "",
        "batch_size": spec.batch_size if trained else "",
        "status": job.status,
        "final_acc": _number(job.final_acc),
        "best_acc": _number(job.best_acc),
        "best_epoch": "" if job.best_epoch is None else job.best_epoch,
        "seconds": _number(job.seconds),
        "error": job.error or "",
    }


def write_csv(path: Path, jobs: tuple[JobResult, ...] | list[JobResult]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(csv_row(job) for job in jobs)
    return path


def _number(value: float | None) -> str:
    # repr keeps every digit, so the CSV equals the store exactly.
    return "" if value is None else repr(float(value))
