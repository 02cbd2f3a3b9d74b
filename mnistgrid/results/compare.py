"""Sweeps side by side: per model family, each sweep's best job, the epochs that family trained
and its training time; per sweep, its epochs and wall time; and each against the first sweep.

    mnistgrid compare seeds seeds-asha

A family's best is the report's (`family_bests`: the highest best accuracy, ties to the lower
id), so `compare` and each sweep's report headline name the same job.

    >>> from mnistgrid.results.compare import compare
    >>> comparison = compare(Results(url), ["seeds", "seeds-asha"])
    >>> [family.family for family in comparison.families]
    ['baseline mae', 'baseline mse', 'linear', 'mlp']
    >>> full, asha = comparison.sweeps
    >>> full.epochs_trained > asha.epochs_trained, full.epochs_planned == asha.epochs_planned
    (True, True)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from mnistgrid.errors import BadInput
from mnistgrid.report.gather import FAMILIES, JobResult, SweepData
from mnistgrid.report.summary import family_bests
from mnistgrid.results.reader import Results
from mnistgrid.results.records import JobRecord, SweepRecord


@dataclass(frozen=True, slots=True)
class SweepTotals:
    """One sweep of a comparison, its jobs and what it cost."""

    sweep: SweepRecord
    jobs: tuple[JobRecord, ...]
    epochs_trained: int  # every job's stored epochs, summed
    epochs_planned: int  # what the grid would train without early stopping
    stopped: int  # jobs its stopping rule ended
    train_seconds: float  # training time, summed over its jobs
    wall_seconds: float  # from submit to its end (to now while it runs)

    @property
    def name(self) -> str:
        return self.sweep.name


@dataclass(frozen=True, slots=True)
class FamilyBest:
    """One sweep's best job in one family, and what that family cost in that sweep."""

    job: JobRecord
    epochs_trained: int
    seconds: float

    @property
    def best_acc(self) -> float:
        assert self.job.best_acc is not None
        return self.job.best_acc


@dataclass(frozen=True, slots=True)
class FamilyRow:
    """A family across the sweeps: `bests[i]` is sweep i's (None: it has no such job with an
    accuracy)."""

    family: str
    bests: tuple[FamilyBest | None, ...]

    def acc_gain(self, i: int) -> float | None:
        """Sweep i's best accuracy minus the first sweep's."""
        first, other = self.bests[0], self.bests[i]
        if first is None or other is None:
            return None
        return other.best_acc - first.best_acc


@dataclass(frozen=True, slots=True)
class Comparison:
    sweeps: tuple[SweepTotals, ...]
    families: tuple[FamilyRow, ...]

    def epochs_ratio(self, i: int) -> float | None:
        """The first sweep's epochs over sweep i's: 3.0 means sweep i trained 3x fewer."""
        first, other = self.sweeps[0].epochs_trained, self.sweeps[i].epochs_trained
        return first / other if other else None

    def wall_ratio(self, i: int) -> float | None:
        """The first sweep's wall time over sweep i's: above 1, sweep i was faster."""
        first, other = self.sweeps[0].wall_seconds, self.sweeps[i].wall_seconds
        return first / other if other > 0 else None


def compare(results: Results, refs: Sequence[str | int]) -> Comparison:
    """The sweeps named by `refs` (two or more, names or ids), the first the reference."""
    if len(refs) < 2:
        raise BadInput("compare needs two sweeps or more")
    sweeps = [results.sweep(ref) for ref in refs]
    seen: dict[int, str | int] = {}
    for ref, sweep in zip(refs, sweeps, strict=True):
        if sweep.sweep_id in seen:
            raise BadInput(f"sweep {sweep.name} is named twice ({seen[sweep.sweep_id]}, {ref})")
        seen[sweep.sweep_id] = ref
    totals, bests = [], []
    for sweep in sweeps:
        pairs = results.job_results(sweep.sweep_id)
        totals.append(sweep_totals(sweep, [job for _, job in pairs]))
        bests.append(best_of_families(results, sweep, pairs))
    present = [f for f in FAMILIES if any(f in best for best in bests)]
    families = tuple(FamilyRow(f, tuple(best.get(f) for best in bests)) for f in present)
    return Comparison(tuple(totals), families)


def sweep_totals(sweep: SweepRecord, jobs: list[JobRecord]) -> SweepTotals:
    end = sweep.finished_at or datetime.now(UTC)
    return SweepTotals(
        sweep=sweep,
        jobs=tuple(jobs),
        epochs_trained=sum(job.epochs_trained for job in jobs),
        epochs_planned=sum(job.epochs for job in jobs),
        stopped=sum(job.status == "stopped" for job in jobs),
        train_seconds=sum(job.seconds or 0.0 for job in jobs),
        wall_seconds=max(0.0, (end - sweep.created_at).total_seconds()),
    )


def best_of_families(
    results: Results, sweep: SweepRecord, pairs: list[tuple[JobResult, JobRecord]]
) -> dict[str, FamilyBest]:
    """Each family's best job by the report's rule, with the family's epochs and seconds."""
    info = results.store.get_sweep(sweep.sweep_id)
    data = SweepData(info, tuple(result for result, _ in pairs), (), sweep.created_at)
    records = {job.job_id: job for _, job in pairs}
    found = {}
    for best in family_bests(data):
        members = [job for _, job in pairs if job.family == best.family]
        found[best.family] = FamilyBest(
            job=records[best.job.job_id],
            epochs_trained=sum(job.epochs_trained for job in members),
            seconds=sum(job.seconds or 0.0 for job in members),
        )
    return found


# -- the comparison as text: what `mnistgrid compare` prints and the web page shows -----------


@dataclass(frozen=True, slots=True)
class FamilyLine:
    family: str
    sweep: str
    best: str
    gain: str  # against the first sweep
    config: str
    job_id: int | None
    epochs: str
    epochs_vs: str
    seconds: str


@dataclass(frozen=True, slots=True)
class SweepLine:
    sweep: str
    sweep_id: int
    status: str
    rule: str
    jobs: int
    stopped: int
    epochs: str
    planned: str
    epochs_vs: str
    train_time: str
    wall_time: str
    wall_vs: str


def family_lines(comparison: Comparison) -> list[FamilyLine]:
    lines = []
    for row in comparison.families:
        first = row.bests[0]
        for i, (best, totals) in enumerate(zip(row.bests, comparison.sweeps, strict=True)):
            if best is None:
                lines.append(FamilyLine(row.family, totals.name, "", "", "no job", None,
                                        "", "", ""))  # fmt: skip
                continue
            gain = row.acc_gain(i)
            epochs_vs = ""
            if i and first is not None:
                epochs_vs = ratio_text(first.epochs_trained, best.epochs_trained, "fewer", "more")
            lines.append(
                FamilyLine(
                    family=row.family,
                    sweep=totals.name,
                    best=f"{best.best_acc:.4f}",
                    gain="" if i == 0 or gain is None else f"{gain:+.4f}",
                    config=best.job.config,
                    job_id=best.job.job_id,
                    epochs=f"{best.epochs_trained:,}",
                    epochs_vs=epochs_vs,
                    seconds=duration_text(best.seconds),
                )
            )
    return lines


def sweep_lines(comparison: Comparison) -> list[SweepLine]:
    first = comparison.sweeps[0]
    lines = []
    for i, totals in enumerate(comparison.sweeps):
        sweep = totals.sweep
        lines.append(
            SweepLine(
                sweep=sweep.name,
                sweep_id=sweep.sweep_id,
                status=sweep.status,
                rule=sweep.stop_rule,
                jobs=len(totals.jobs),
                stopped=totals.stopped,
                epochs=f"{totals.epochs_trained:,}",
                planned=f"{totals.epochs_planned:,}",
                epochs_vs=ratio_text(first.epochs_trained, totals.epochs_trained, "fewer", "more")
                if i
                else "",
                train_time=duration_text(totals.train_seconds),
                wall_time=duration_text(totals.wall_seconds)
                + ("" if sweep.finished_at else " so far"),
                wall_vs=ratio_text(first.wall_seconds, totals.wall_seconds, "faster", "slower")
                if i
                else "",
            )
        )
    return lines


def ratio_text(first: float, other: float, less: str, more: str) -> str:
    """How `other` stands to `first`: `3.2x fewer`, `1.5x more`, `same`."""
    if first <= 0 or other <= 0:
        return ""
    ratio = first / other
    if abs(ratio - 1) < 0.005:
        return "same"
    return f"{ratio:.1f}x {less}" if ratio > 1 else f"{1 / ratio:.1f}x {more}"


def duration_text(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
