"""The report task: the worker that ends a sweep asks for it, any worker writes it.

    mnistgrid worker --queues cpu   # runs it, as `workers/celery_app.py` names this module

Registered with `shared_task`, so it needs no app of its own: it joins the worker's.
"""

from __future__ import annotations

import logging

from celery import shared_task
from kombu.exceptions import OperationalError as BrokerError
from sqlalchemy.exc import InterfaceError, OperationalError

from db.errors import DatabaseUnavailable
from db.store import shared_store
from mnistgrid.data.datasets import task_loader
from mnistgrid.queue.routing import REPORT_TASK
from mnistgrid.report.write import write_report
from mnistgrid.settings import load_settings

log = logging.getLogger(__name__)


@shared_task(
    name=REPORT_TASK,
    autoretry_for=(OperationalError, InterfaceError, BrokerError, DatabaseUnavailable),
    retry_backoff=2,
    retry_backoff_max=60,
    max_retries=8,
)
def write_sweep_report(sweep_id: int) -> str | None:
    """Write the sweep's report into MNISTGRID_REPORTS_DIR; returns where the HTML went."""
    settings = load_settings()
    try:
        paths = write_report(
            shared_store(settings.database_url),
            sweep_id,
            settings.reports_dir,
            load_data=task_loader(settings),
        )
    except (OperationalError, InterfaceError, DatabaseUnavailable):
        raise  # retried
    except Exception:  # noqa: BLE001 - logged; `mnistgrid report` can write it again
        log.exception("report of sweep %s failed", sweep_id)
        return None
    log.info("sweep %s ended: report at %s", sweep_id, paths.html)
    return str(paths.html)
