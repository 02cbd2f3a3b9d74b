"""The Celery app and its whole configuration, in one mapping.

    celery -A workers.celery_app worker   # the worker's app; what `mnistgrid worker` runs for you

The database is the truth and the queue only delivers: a message says "train jobs [ids]", and
the task re-reads those rows and decides what to do, so duplicate or lost messages are harmless.
Producers (`submit`, the reconcile) call `make_celery` for an app without tasks; the worker's
app (`workers/celery_app.py`) names the modules whose tasks it runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from celery import Celery

from mnistgrid.routing import CPU_QUEUE
from mnistgrid.settings import Settings, load_settings

# Redis redelivers a task unacknowledged this long after delivery, even to a second worker
# while the first still trains it (celery#5935): keep it above the longest allowed job.
VISIBILITY_MARGIN_SECONDS = 600


# The serverless broker's URL for kombu: its folders are transport options, and the host is
# named only so that kombu does not warn "No hostname was supplied" at every connection.
SERVERLESS_URL = "filesystem://localhost/"


def filesystem_folder(broker_url: str) -> Path | None:
    """`filesystem:///some/folder` is the serverless broker kept in that folder."""
    if not broker_url.startswith("filesystem://"):
        return None
    return Path(broker_url.removeprefix("filesystem://") or "broker")


def broker_options(settings: Settings) -> tuple[str, dict[str, object]]:
    folder = filesystem_folder(settings.broker_url)
    if folder is None:
        return settings.broker_url, {
            "visibility_timeout": settings.max_job_seconds + VISIBILITY_MARGIN_SECONDS,
        }
    messages, processed = folder / "messages", folder / "processed"
    for path in (messages, processed, folder / "control"):
        path.mkdir(parents=True, exist_ok=True)
    return SERVERLESS_URL, {
        # One machine: producers and consumers share one folder.
        "data_folder_in": str(messages),
        "data_folder_out": str(messages),
        "processed_folder": str(processed),
        "control_folder": str(folder / "control"),
        "store_processed": False,
        "polling_interval": settings.broker_polling_interval,
    }


def celery_config(settings: Settings) -> dict[str, object]:
    broker_url, transport_options = broker_options(settings)
    serverless = broker_url == SERVERLESS_URL
    return {
        "broker_url": broker_url,
        "broker_transport_options": transport_options,
        # rediss://: check the server's certificate and name against MNISTGRID_TLS_CA_FILE
        # (kombu alone would take a rediss:// URL without any check). Flower reads it too.
        # There is no result backend (results live in the SQL store), so nothing else to set.
        "broker_use_ssl": settings.broker_tls or False,
        "broker_connection_retry_on_startup": True,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],  # a pickled message is refused, never loaded
        "task_ignore_result": True,  # results live in the SQL store
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "worker_send_task_events": True,
        "task_send_sent_event": True,
        "task_track_started": True,
        # On a lost broker connection the task trains on; its message comes back later and
        # finds the job finished (a no-op), so no epoch is thrown away.
        "worker_cancel_long_running_tasks_on_connection_loss": False,
        "task_default_queue": CPU_QUEUE,
        # Broadcast traffic would pile up as files nobody removes in the filesystem broker.
        "worker_enable_remote_control": not serverless,
    }


def make_celery(settings: Settings | None = None, include: Sequence[str] = ()) -> Celery:
    """An app configured from `settings`; `include` names the task modules a worker runs."""
    app = Celery("mnistgrid", include=list(include))
    app.conf.update(celery_config(settings or load_settings()))
    return app
