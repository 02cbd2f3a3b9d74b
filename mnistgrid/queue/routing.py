"""Names the producers and the workers must agree on: the tasks and the queues.

Plain constants and one pure function: importing them builds no Celery app.
"""

from __future__ import annotations

from mnistgrid.spec import JobSpec

TRAIN_TASK = "mnistgrid.train_jobs"
REPORT_TASK = "mnistgrid.write_report"
CPU_QUEUE = "cpu"
GPU_QUEUE = "gpu"


def queue_of(spec: JobSpec) -> str:
    """`cuda` jobs go to GPU workers; `cpu` and `auto` to the CPU queue (a GPU worker that also
    listens on `cpu` runs `auto` jobs on its GPU)."""
    return GPU_QUEUE if spec.device == "cuda" else CPU_QUEUE
