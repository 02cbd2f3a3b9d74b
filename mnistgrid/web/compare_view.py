"""The compare page: sweeps side by side (mnistgrid/results/compare.py, the same comparison
`mnistgrid compare` prints), with each family's best curves overlaid and the parallel
coordinates of every job coloured by sweep."""

from __future__ import annotations

from dataclasses import dataclass

from db.store import Store
from mnistgrid.errors import BadInput
from mnistgrid.results import Results
from mnistgrid.results.compare import (
    Comparison,
    FamilyLine,
    SweepLine,
    compare,
    family_lines,
    sweep_lines,
)
from mnistgrid.web.charts.compare import best_curves_figure, parallel_figure, sweep_colors


@dataclass(frozen=True, slots=True)
class ComparePage:
    comparison: Comparison
    families: list[FamilyLine]
    sweeps: list[SweepLine]
    colors: list[str]
    figures: dict[str, object]


# More sweeps than this on one page would be unreadable (and costly to read).
MAX_COMPARED = 20


def compare_page(store: Store, refs: list[str]) -> ComparePage:
    """The page of the sweeps `refs` (names or ids, from `?sweep=A&sweep=B`)."""
    if len(refs) < 2:
        raise BadInput("tick two sweeps or more to compare them (?sweep=A&sweep=B)")
    if len(refs) > MAX_COMPARED:
        raise BadInput(f"compare at most {MAX_COMPARED} sweeps at once, not {len(refs)}")
    comparison = compare(Results(store), refs)
    best_jobs = {best.job.job_id for row in comparison.families for best in row.bests if best}
    epochs = store.epochs_of(best_jobs)
    return ComparePage(
        comparison=comparison,
        families=family_lines(comparison),
        sweeps=sweep_lines(comparison),
        colors=sweep_colors(comparison),
        figures={
            "curves": best_curves_figure(comparison, epochs),
            "parallel": parallel_figure(comparison),
        },
    )
