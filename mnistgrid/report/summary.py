"""The numbers the report states: seeds grouped, each family's best, and whether gaps are real."""

from __future__ import annotations

import math
from dataclasses import dataclass

from mnistgrid.core.stopping import rungs
from mnistgrid.report.gather import FAMILIES, LOSS_ORDER, MODEL_ORDER, JobResult, SweepData

# The source posts' figures on the ten-digit task. The baselines' are mean per-class accuracy.
REFERENCES: dict[str, tuple[float, str]] = {
    "baseline mae": (0.661, "0.661 (mean per-class)"),
    "baseline mse": (0.817, "0.817 (mean per-class)"),
    "linear": (0.915, "0.915"),
    "mlp": (0.95, "about 0.95"),
}


@dataclass(frozen=True, slots=True)
class Spread:
    """Mean and range of one number over a configuration's seeds."""

    mean: float
    low: float
    high: float
    n: int

    @property
    def width(self) -> float:
        return self.high - self.low


def spread(values: list[float]) -> Spread | None:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return None
    low, high = min(finite), max(finite)
    # Clamped: the mean of equal values can round past them (3 x 0.1 / 3), and a bar from the
    # mean to its range must not have a negative length.
    mean = min(max(math.fsum(finite) / len(finite), low), high)
    return Spread(mean, low, high, len(finite))


@dataclass(frozen=True, slots=True)
class ConfigGroup:
    """Jobs of one configuration that differ only in their seed."""

    jobs: tuple[JobResult, ...]

    @property
    def first(self) -> JobResult:
        return self.jobs[0]

    @property
    def best_acc(self) -> Spread | None:
        return spread([j.best_acc for j in self.jobs if j.best_acc is not None])

    @property
    def final_acc(self) -> Spread | None:
        """Over the seeds that did not diverge: a diverged run's last accuracy is noise."""
        return spread([j.final_acc for j in self.jobs if _counts(j) and j.final_acc is not None])

    @property
    def seconds(self) -> Spread | None:
        return spread([j.seconds for j in self.jobs if j.seconds is not None])


def _counts(job: JobResult) -> bool:
    return job.status not in ("diverged", "failed")


def config_groups(jobs: list[JobResult] | tuple[JobResult, ...]) -> list[ConfigGroup]:
    groups: dict[str, list[JobResult]] = {}
    for job in jobs:
        groups.setdefault(job.config_key, []).append(job)
    return [ConfigGroup(tuple(members)) for members in groups.values()]


def several_seeds(data: SweepData) -> bool:
    return any(len(group.jobs) > 1 for group in config_groups(data.jobs))


@dataclass(frozen=True, slots=True)
class FamilyBest:
    family: str
    job: JobResult
    # The best job's configuration over every seed it ran with (n == 1: one seed).
    seeds: Spread
    reference: float | None
    reference_text: str

    @property
    def mean_class_acc(self) -> float | None:
        row = self.job.best_row
        if row is None:
            return None
        values = [a for a in row.per_class_acc if math.isfinite(a)]
        return sum(values) / len(values) if values else None


def family_bests(data: SweepData) -> list[FamilyBest]:
    """Each family's job with the highest best accuracy, in FAMILIES order."""
    bests = []
    for family in FAMILIES:
        scored = [j for j in data.of_family(family) if j.best_acc is not None]
        if not scored:
            continue
        job = max(scored, key=lambda j: (j.best_acc, -j.job_id))
        same = [j for j in scored if j.config_key == job.config_key]
        seeds = spread([j.best_acc for j in same])
        assert seeds is not None
        if data.pair is None:
            reference, text = REFERENCES[family]
        else:
            reference, text = None, "n/a (the posts' figures are for ten digits)"
        bests.append(FamilyBest(family, job, seeds, reference, text))
    return bests


@dataclass(frozen=True, slots=True)
class LossBest:
    model: str
    loss: str
    group: ConfigGroup  # the configuration with the highest mean best accuracy over its seeds
    acc: Spread


def loss_bests(data: SweepData) -> list[LossBest]:
    bests = []
    for model in MODEL_ORDER:
        for loss in LOSS_ORDER:
            jobs = [j for j in data.jobs if j.model == model and j.loss == loss]
            scored = [(g, s) for g in config_groups(jobs) if (s := g.best_acc) is not None]
            if scored:
                group, acc = max(scored, key=lambda gs: gs[1].mean)
                bests.append(LossBest(model, loss, group, acc))
    return bests


def gap_verdicts(bests: list[FamilyBest]) -> list[str]:
    """For neighbours in the ranking: is the gap between their best configurations bigger than
    the spread over seeds? Only said where a configuration ran with more than one seed."""
    ranked = sorted(bests, key=lambda b: b.seeds.mean, reverse=True)
    verdicts = []
    for upper, lower in zip(ranked, ranked[1:], strict=False):
        if upper.seeds.n < 2 and lower.seeds.n < 2:
            continue
        gap = upper.seeds.mean - lower.seeds.mean
        spread_text = f"{upper.family} {_range(upper.seeds)}, {lower.family} {_range(lower.seeds)}"
        if lower.seeds.high < upper.seeds.low:
            verdict = "exceeds the spread over seeds (the ranges do not overlap)"
        else:
            verdict = "is within the spread over seeds (the ranges overlap)"
        verdicts.append(
            f"{upper.family} over {lower.family}: a gap of {gap:.4f} in mean best accuracy "
            f"{verdict}: {spread_text}."
        )
    return verdicts


def _range(s: Spread) -> str:
    if s.n < 2:
        return f"{s.mean:.4f} (one seed)"
    return f"{s.low:.4f}-{s.high:.4f} over {s.n} seeds"


def digit_order(classes: tuple[int, ...]) -> list[int]:
    """Class indices sorted by the digit they stand for (a pair (3, 7) reads 3, then 7)."""
    return sorted(range(len(classes)), key=lambda i: classes[i])


def per_digit(job: JobResult, classes: tuple[int, ...]) -> dict[int, float]:
    """Digit -> accuracy at the job's best epoch, straight from the stored per_class_acc."""
    row = job.best_row
    if row is None:
        return {}
    return {classes[i]: row.per_class_acc[i] for i in digit_order(classes)}


def per_digit_spread(jobs: list[JobResult], classes: tuple[int, ...]) -> dict[int, Spread | None]:
    """Digit -> spread over seeds (each seed at its own best epoch)."""
    tables = [per_digit(job, classes) for job in jobs]
    return {
        digit: spread([t[digit] for t in tables if digit in t])
        for digit in (classes[i] for i in digit_order(classes))
    }


@dataclass(frozen=True, slots=True)
class StoppingSummary:
    """What a sweep's stopping rule saved: epochs trained against the full grid, and the time
    those untrained epochs would have taken (each model's mean epoch time, so an estimate)."""

    stopped: int
    trained_epochs: int
    full_epochs: int
    seconds_saved: float

    @property
    def ratio(self) -> float:
        return self.full_epochs / self.trained_epochs if self.trained_epochs else math.inf


def stopping_summary(data: SweepData) -> StoppingSummary:
    trained = [job for job in data.jobs if job.model != "baseline"]
    saved = 0.0
    for model in MODEL_ORDER:
        jobs = [job for job in trained if job.model == model]
        seconds = [row.seconds for job in jobs for row in job.epochs]
        if seconds:
            missing = sum(
                job.spec.epochs - len(job.epochs) for job in jobs if job.status == "stopped"
            )
            saved += missing * sum(seconds) / len(seconds)
    return StoppingSummary(
        stopped=sum(job.status == "stopped" for job in trained),
        trained_epochs=sum(len(job.epochs) for job in trained),
        full_epochs=sum(job.spec.epochs for job in trained),
        seconds_saved=saved,
    )


@dataclass(frozen=True, slots=True)
class RungCount:
    """One rung of the sweep's stopping rule (of one Hyperband bracket): how many jobs reached
    it, went on past it, and stopped there."""

    name: str  # "epoch 3", or "bracket 1, epoch 3"
    reached: int
    went_on: int
    stopped: int


def rung_counts(data: SweepData) -> list[RungCount]:
    """Every rung of ASHA, SHA or Hyperband, from the jobs' stored epochs and statuses."""
    rule, counts = data.stop, []
    trained = [job for job in data.jobs if job.model != "baseline"]
    for bracket in sorted({job.bracket or 0 for job in trained}):
        jobs = [job for job in trained if (job.bracket or 0) == bracket]
        for rung in rungs(rule, max(job.spec.epochs for job in jobs), bracket):
            reached = [job for job in jobs if job.last_epoch >= rung]
            stopped = sum(job.status == "stopped" and job.last_epoch == rung for job in reached)
            waiting = sum(job.status == "parked" and job.last_epoch == rung for job in reached)
            name = (
                f"bracket {bracket}, epoch {rung}" if rule.rule == "hyperband" else f"epoch {rung}"
            )
            counts.append(RungCount(name, len(reached), len(reached) - stopped - waiting, stopped))
    return counts
