"""The report task: the worker that ends a sweep asks for it, any worker writes it, and the
sweep's row says whether it was written or why it failed.

    mnistgrid worker --queues cpu   # runs it, as `workers/celery_app.py` names this module

Registered with `shared_task`, so it needs no app of its own: it joins the worker's.
"""

from __future__ import annotations

import logging

from celery import shared_task
from sqlalchemy.exc import InterfaceError, OperationalError

from db.errors import DatabaseUnavailable
from db.store import shared_store
from mnistgrid.data.datasets import task_loader
from mnistgrid.queue.retrying import TRANSIENT, RetryAtOnce
from mnistgrid.report.write import write_report
from mnistgrid.routing import REPORT_TASK
from mnistgrid.settings import load_settings

log = logging.getLogger(__name__)


@shared_task(name=REPORT_TASK, base=RetryAtOnce, autoretry_for=TRANSIENT)
def write_sweep_report(sweep_id: int) -> str | None:
    """Write the sweep's report into MNISTGRID_REPORTS_DIR and record how that went, so the
    user waiting on the sweep is told; returns where the HTML went (None: it failed)."""
    settings = load_settings()
    store = shared_store(settings.database_url)
    store.mark_report_requested(sweep_id)  # taken up: the reconcile leaves it alone a lease
    try:
        paths = write_report(
            store, sweep_id, settings.reports_dir, load_data=task_loader(settings)
        )
    except (OperationalError, InterfaceError, DatabaseUnavailable):
        raise  # retried
    except Exception as error:  # noqa: BLE001 - recorded for --wait; `mnistgrid report` retries
        log.exception("report of sweep %s failed", sweep_id)
        store.end_report(sweep_id, error=f"{type(error).__name__}: {error}")
        return None
    store.end_report(sweep_id)
    log.info("sweep %s ended: report at %s", sweep_id, paths.html)
    return str(paths.html)
