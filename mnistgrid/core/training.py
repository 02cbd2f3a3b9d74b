"""One entry point for every kind of job: the baseline evaluates, the others run `fit`."""

from __future__ import annotations

from collections.abc import Sequence

from mnistgrid.core.baseline import fit_baseline
from mnistgrid.core.learner import EpochCallback, MemberState, fit
from mnistgrid.core.results import FitResult, MemberEpoch
from mnistgrid.core.train_data import TrainData
from mnistgrid.spec import JobSpec


def train_jobs(
    specs: Sequence[JobSpec],
    data: TrainData,
    on_epoch_end: EpochCallback | None = None,
    start: Sequence[MemberState | None] | None = None,
) -> list[FitResult]:
    """Train `specs` as one stack (they must share a shape); report each epoch to the callback."""
    if specs[0].model != "baseline":
        return fit(specs, data, on_epoch_end, start)
    results = [fit_baseline(spec, data) for spec in specs]
    if on_epoch_end is not None:
        on_epoch_end([MemberEpoch(i, r.epochs[0], False, ()) for i, r in enumerate(results)])
    return results
