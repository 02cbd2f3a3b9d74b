"""The worker's Celery app: the queue's configuration, and what a worker process runs.

    celery -A workers.celery_app worker   # what `mnistgrid worker` runs for you
    celery -A workers.celery_app flower   # Flower, reading the same broker

A worker runs two tasks, training (`workers.tasks`) and a sweep's report
(`mnistgrid.report.task`), and the healer (`workers.healer`), which re-sends what dead workers
and lost messages left behind. The task modules are named here as strings, the way Celery
loads them, because this is where the worker process is put together: the report sits a floor
above the worker runtime, which never imports it.
"""

from __future__ import annotations

from mnistgrid.queue.app import make_celery
from workers.healer import Healer

TASK_MODULES = ("workers.tasks", "mnistgrid.report.task")

app = make_celery(include=TASK_MODULES)
app.steps["worker"].add(Healer)
