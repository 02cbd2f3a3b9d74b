"""Early stopping across a grid: which jobs a rule stops at an epoch boundary.

    [stop]
    rule = "asha"   # in a grid file; see mnistgrid.spec.StopSpec

Pure functions of the recorded epochs, so every worker that asks gets the same answer from
the same table: no torch, no SQL. The caller reads, for the epoch just finished, each job's
`Reached` value from the store and asks `jobs_to_stop` about its own jobs.

ASHA follows Li et al. (2018), as Ray Tune's ASHAScheduler does: asynchronous, so it never
waits for other jobs to reach a rung; a job reaching a rung continues only if it is in the top
1/reduction of the values recorded there so far, its own included (ties continue). The median
rule follows Optuna's MedianPruner: a job's best value so far against the median of the
others' best values up to the same epoch.

SHA is successive halving with synchronous rungs: a job reaching a rung waits (parked) until
every job of its bracket has reached it or ended; then exactly the top 1/reduction of them go
on (`promoted`). Hyperband (Li et al. 2018, as Ray Tune's HyperBandScheduler) runs several SHA
brackets side by side, bracket b with its first rung reduction**b times later, so that a slow
starter meets a bracket that does not cut it early; `hyperband_shares` deals the grid's jobs
out to them in the paper's proportions.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from mnistgrid.spec import StopSpec


@dataclass(frozen=True, slots=True)
class Reached:
    """One job's standing at an epoch: its bracket (model family, or one for the whole grid)
    and its metric there (ASHA), or its best up to there (median). None: not finite."""

    bracket: str
    value: float | None


def asha_rungs(grace: int, reduction: int, epochs: int) -> list[int]:
    """The rungs before the last epoch: grace, grace * reduction, grace * reduction**2, ..."""
    rungs, rung = [], grace
    while rung < epochs:
        rungs.append(rung)
        rung *= reduction
    return rungs


SYNCHRONOUS = ("sha", "hyperband")


def rungs(rule: StopSpec, epochs: int, bracket: int = 0) -> list[int]:
    """The rungs of ASHA and SHA, and of Hyperband's bracket `bracket`: its first rung is
    `grace * reduction**bracket`."""
    if rule.rule not in ("asha", *SYNCHRONOUS):
        return []
    return asha_rungs(rule.grace * rule.reduction**bracket, rule.reduction, epochs)


def decides_at(rule: StopSpec, epoch: int, epochs: int, bracket: int = 0) -> bool:
    """Whether the rule looks at the jobs when they have finished `epoch`."""
    if rule.rule == "median":
        return rule.grace <= epoch < epochs
    return epoch in rungs(rule, epochs, bracket)


def hyperband_brackets(rule: StopSpec, epochs: int) -> int:
    """How many brackets: s_max + 1, where s_max = floor(log_reduction(epochs / grace)); the
    last bracket has no rung and trains its jobs to the end."""
    s_max, first_rung = 0, rule.grace
    while first_rung * rule.reduction <= epochs:
        s_max, first_rung = s_max + 1, first_rung * rule.reduction
    return s_max + 1


def hyperband_shares(rule: StopSpec, epochs: int, n_jobs: int) -> list[int]:
    """How many of `n_jobs` each bracket gets, in the paper's proportions: bracket b (the one
    that starts s = s_max - b rungs before the end) takes ceil((s_max + 1) / (s + 1) * eta**s)
    parts; the jobs are dealt by largest remainder, so the shares add up to `n_jobs`."""
    n_brackets = hyperband_brackets(rule, epochs)
    s_max = n_brackets - 1
    parts = [
        math.ceil(n_brackets / (s_max - b + 1) * rule.reduction ** (s_max - b))
        for b in range(n_brackets)
    ]
    exact = [n_jobs * part / sum(parts) for part in parts]
    shares = [math.floor(x) for x in exact]
    by_remainder = sorted(range(n_brackets), key=lambda b: (shares[b] - exact[b], b))
    for b in by_remainder[: n_jobs - sum(shares)]:
        shares[b] += 1
    return shares


def jobs_to_stop(
    rule: StopSpec, deciding: Iterable[int], reached: Mapping[int, Reached]
) -> set[int]:
    """Of the jobs `deciding` (all in `reached`), those the rule stops, given what every job
    of the sweep `reached` at this epoch."""
    if rule.rule == "asha":
        return {job for job in deciding if _asha_stops(rule, job, reached)}
    if rule.rule == "median":
        return {job for job in deciding if _median_stops(rule, job, reached)}
    return set()


def _asha_stops(rule: StopSpec, job: int, reached: Mapping[int, Reached]) -> bool:
    # As in the paper, the top 1/reduction of every job recorded at the rung, this one included
    # (so the first to arrive always continues, and a stack arriving whole is cut as a rung).
    mine = _score(rule, reached[job].value)
    cutoff = _percentile([mine, *_others(rule, job, reached)], 1 - 1 / rule.reduction)
    return mine < cutoff


def promoted(
    rule: StopSpec, reached: Mapping[int, float | None], waiting: Iterable[int]
) -> set[int]:
    """SHA at a complete rung: of the jobs `waiting` there, those among the top
    ceil(n / reduction) of all n jobs that `reached` it (ties with the last one go on too)."""
    scores = sorted((_score(rule, value) for value in reached.values()), reverse=True)
    if not scores:
        return set()
    cutoff = scores[math.ceil(len(scores) / rule.reduction) - 1]
    return {job for job in waiting if _score(rule, reached[job]) >= cutoff}


def _median_stops(rule: StopSpec, job: int, reached: Mapping[int, Reached]) -> bool:
    others = _others(rule, job, reached)
    if len(others) < rule.min_jobs:
        return False
    return _score(rule, reached[job].value) < statistics.median(others)


def _others(rule: StopSpec, job: int, reached: Mapping[int, Reached]) -> list[float]:
    """The other jobs' scores in the job's bracket (every job, with brackets = "grid")."""
    bracket = reached[job].bracket
    return [
        _score(rule, standing.value)
        for other, standing in reached.items()
        if other != job and (rule.brackets == "grid" or standing.bracket == bracket)
    ]


def _score(rule: StopSpec, value: float | None) -> float:
    """Larger is better: the loss is negated, and a non-finite value is the worst of all."""
    if value is None or not math.isfinite(value):
        return -math.inf
    return value if rule.mode == "max" else -value


def _percentile(values: list[float], q: float) -> float:
    """The q-quantile with linear interpolation (numpy's default), infinities allowed."""
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    if ordered[low] == ordered[high] or position == low:
        return ordered[low]
    if math.isinf(ordered[low]):  # a diverged job below: the cutoff is the finite one above
        return ordered[high]
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
