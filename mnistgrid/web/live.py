"""Live updates: what changed in a sweep since a page's cursor, and a job's new epochs.

    GET /api/sweeps/quick/updates?since=2026-11-27T15:30:00.123456+00:00

A sweep's cursor is the store's clock at the previous read (`SweepChanges.read_at`). An update
carries the rows of the jobs written since, and of their epochs only those written since: the
page appends them to its curves. Rows of the few seconds before the cursor come again
(`STAMP_LAG_SECONDS` in db/store.py); the page skips epochs it has.
"""

from __future__ import annotations

from datetime import UTC, datetime

from db.records import MAX_ID, EpochPoint, SweepInfo
from db.store import Store
from mnistgrid.errors import BadInput, printable
from mnistgrid.settings import Settings
from mnistgrid.web.links import flower_tasks_url
from mnistgrid.web.sweep_data import by_job, job_results
from mnistgrid.web.sweep_view import job_rows

# A cursor is a time the store's clock gave: anything far from now is no cursor (and year 1, or
# 9999 in another zone, overflows the arithmetic of the cursor's lag or the store's UTC).
EARLIEST_CURSOR = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_CURSOR = datetime(9000, 1, 1, tzinfo=UTC)


def parse_cursor(text: str | None) -> datetime:
    """A cursor as the page got it: an ISO 8601 time with its offset."""
    shown = repr(printable(text or ""))
    try:
        when = datetime.fromisoformat(text or "")
    except ValueError:
        raise BadInput(f"bad cursor {shown}: pass back the `cursor` of the last answer") from None
    if when.tzinfo is None:
        raise BadInput(f"bad cursor {shown}: it has no time zone")
    if not EARLIEST_CURSOR <= when <= LATEST_CURSOR:
        raise BadInput(f"bad cursor {shown}: out of range (1970 to 9000)")
    return when


def parse_after(text: str | None) -> int:
    """`after`: the last epoch a page has; a negative one is 0."""
    shown = repr(printable(text or ""))
    try:
        after = max(0, int(text or "0"))
    except ValueError:
        raise BadInput(f"bad epoch {shown}: `after` is an epoch number") from None
    if after > MAX_ID:
        raise BadInput(f"bad epoch {shown}: `after` is an epoch number, at most {MAX_ID}")
    return after


def sweep_head(sweep: SweepInfo) -> dict[str, object]:
    return {
        "id": sweep.sweep_id,
        "name": sweep.name,
        "status": sweep.status,
        "counts": sweep.counts,
        "report_status": sweep.report_status,
    }


def sweep_update(store: Store, ref: str, since: datetime, settings: Settings) -> dict[str, object]:
    """The changed jobs (as table rows) and their new epochs, with the sweep's counts."""
    sweep = store.get_sweep(ref)
    changes = store.sweep_changes(sweep.sweep_id, since)
    results = job_results(changes.jobs, by_job(changes.points))
    return {
        "cursor": changes.read_at.isoformat(),
        "sweep": sweep_head(sweep),
        "flower_url": flower_tasks_url(settings.flower_url, sweep.name),
        "jobs": job_rows(changes.jobs, results),
        "points": new_points(changes.points),
    }


def new_points(points: tuple[EpochPoint, ...]) -> dict[int, list[list]]:
    """{job id: [[epoch, accuracy], ...]} of the epochs written since the cursor (and in the
    lag before it)."""
    found: dict[int, list[list]] = {}
    for point in points:
        if point.fresh and point.valid_acc is not None:
            found.setdefault(point.job_id, []).append([point.epoch, round(point.valid_acc, 5)])
    return found
