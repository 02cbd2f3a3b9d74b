"""The worker's Celery app: the queue's configuration, and the tasks a worker process runs.

    celery -A workers.celery_app worker   # what `mnistgrid worker` runs for you
    celery -A workers.celery_app flower   # Flower, reading the same broker

A worker runs two tasks: training (`workers.tasks`) and a sweep's report
(`mnistgrid.report.task`). They are named here as strings, the way Celery loads task modules,
because this is where the worker process is put together: the report sits a floor above the
worker runtime, which never imports it.
"""

from __future__ import annotations

from mnistgrid.queue.app import make_celery

TASK_MODULES = ("workers.tasks", "mnistgrid.report.task")

app = make_celery(include=TASK_MODULES)
