"""Names the producers and the workers must agree on: the tasks and the queues.

Plain constants and one pure function: importing them builds no Celery app.
"""

from __future__ import annotations

from mnistgrid.spec import JobSpec

TRAIN_TASK = "mnistgrid.train_jobs"
REPORT_TASK = "mnistgrid.write_report"
CPU_QUEUE = "cpu"
GPU_QUEUE = "gpu"
# Every report request goes here, whatever trained the sweep: only the workers of the machine
# whose ./reports the user reads take it (`mnistgrid worker` does unless --no-reports), so
# with workers on several machines the report lands on that one.
REPORT_QUEUE = "report"


def queue_of(spec: JobSpec) -> str:
    """`cuda` jobs go to GPU workers; `cpu` and `auto` to the CPU queue (a GPU worker that also
    listens on `cpu` runs `auto` jobs on its GPU)."""
    return queue_for_device(spec.device)


def queue_for_device(device: str) -> str:
    """The queue of a grid's `train.device`."""
    return GPU_QUEUE if device == "cuda" else CPU_QUEUE


def task_title(sweep_name: str, specs: list[JobSpec], job_ids: list[int]) -> str:
    """What Flower lists for a task (Celery's shadow name) instead of the task's name:
    `quick: linear cross_entropy lr=0.3,1 (jobs 5-6)`."""
    first = specs[0]
    what = first.shape_label()
    if first.model != "baseline":
        lrs = ",".join(f"{lr:g}" for lr in sorted({s.lr for s in specs}))
        seeds = sorted({s.seed for s in specs})
        what += f" {first.loss} lr={lrs}"
        if seeds != [0]:
            what += " seed=" + ",".join(str(seed) for seed in seeds)
    return f"{sweep_name}: {what} ({_jobs_text(sorted(job_ids))})"


def _jobs_text(ids: list[int]) -> str:
    if len(ids) == 1:
        return f"job {ids[0]}"
    if ids == list(range(ids[0], ids[-1] + 1)):
        return f"jobs {ids[0]}-{ids[-1]}"
    return "jobs " + ",".join(str(i) for i in ids)
