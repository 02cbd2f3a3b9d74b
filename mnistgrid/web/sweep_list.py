"""The sweeps page: every sweep with its counts, progress, best accuracy per family and age.

Each family's best is the report's (`family_bests`) over the job rows: a job counts once it has
ended and its best accuracy is stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from db.records import TERMINAL_JOB_STATUSES, SweepInfo
from db.store import Store
from mnistgrid.report.formats import acc
from mnistgrid.report.gather import SweepData, job_result
from mnistgrid.report.summary import family_bests


@dataclass(frozen=True, slots=True)
class SweepLine:
    sweep: SweepInfo
    ended: int
    epochs_done: int
    epochs_total: int
    bests: dict[str, tuple[str, int]]  # family -> (accuracy, job id)
    age: str

    @property
    def percent(self) -> float:
        return 100.0 * self.epochs_done / self.epochs_total if self.epochs_total else 0.0

    @property
    def counts(self) -> list[tuple[str, int]]:
        return [(status, n) for status, n in self.sweep.counts.items() if n]


def sweep_lines(store: Store) -> list[SweepLine]:
    """Newest first."""
    now = datetime.now(UTC)
    return [sweep_line(store, sweep, now) for sweep in reversed(store.list_sweeps())]


def sweep_line(store: Store, sweep: SweepInfo, now: datetime) -> SweepLine:
    jobs = store.sweep_jobs(sweep.sweep_id)
    results = tuple(job_result(info, []) for info in jobs)
    data = SweepData(sweep, results, (), now)
    planned = [1 if r.model == "baseline" else r.spec.epochs for r in results]
    done = [min(info.last_epoch or 0, n) for info, n in zip(jobs, planned, strict=True)]
    bests = {b.family: (acc(b.job.best_acc), b.job.job_id) for b in family_bests(data)}
    return SweepLine(
        sweep=sweep,
        ended=sum(sweep.counts.get(s, 0) for s in TERMINAL_JOB_STATUSES),
        epochs_done=sum(done),
        epochs_total=sum(planned),
        bests=bests,
        age=age(now, sweep.created_at),
    )


def age(now: datetime, then: datetime) -> str:
    seconds = max(0.0, (now - then).total_seconds())
    for unit, size in (("day", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            n = int(seconds // size)
            return f"{n} {unit}{'s' if unit == 'day' and n > 1 else ''} ago"
    return f"{int(seconds)} s ago"
