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


def decides_at(rule: StopSpec, epoch: int, epochs: int) -> bool:
    """Whether the rule looks at the jobs when they have finished `epoch`."""
    if rule.rule == "asha":
        return epoch in asha_rungs(rule.grace, rule.reduction, epochs)
    return rule.rule == "median" and rule.grace <= epoch < epochs


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
