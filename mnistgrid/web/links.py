"""Where a page links out: a sweep's written report, and its tasks in Flower."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from db.records import SweepInfo
from mnistgrid.report.paths import HTML, report_paths

REPORTS_PATH = "/reports"


def report_url(reports_dir: Path, sweep: SweepInfo) -> str | None:
    """The report's address under this app, when the report has been written here."""
    paths = report_paths(reports_dir, sweep.name, sweep.sweep_id)
    if not paths.html.is_file():
        return None
    return f"{REPORTS_PATH}/{quote(paths.dir.name)}/{HTML}"


def flower_tasks_url(flower_url: str | None, sweep_name: str) -> str | None:
    """Flower's task list filtered to this sweep's tasks. mnistgrid keeps no Celery task ids,
    but every task is named after its sweep (`quick: linear cross_entropy lr=1 (job 5)`,
    mnistgrid/routing.py), and Flower's `/tasks?name=` searches the names. The name is
    quoted, with its colon, for Flower's query syntax: `name:"quick: "`."""
    if flower_url is None:
        return None
    escaped = sweep_name.replace("\\", "\\\\").replace('"', '\\"')
    query = '"' + escaped + ': "'
    # Flower decodes the parameter with decodeURIComponent: spaces as %20, never `+`.
    return f"{flower_url}/tasks?name={quote(query, safe='')}"
