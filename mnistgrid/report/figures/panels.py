"""The model x loss grid of panels that the learning-curve and lr figures share."""

from __future__ import annotations

from dataclasses import dataclass

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from mnistgrid.report.figures.style import FAMILY_COLORS, new_figure
from mnistgrid.report.gather import LOSS_ORDER, MODEL_ORDER, JobResult, SweepData


@dataclass(frozen=True, slots=True)
class Panel:
    model: str
    loss: str
    jobs: tuple[JobResult, ...]
    ax: Axes


def trained_panels(data: SweepData, width: float, height: float) -> tuple[Figure, list[Panel]]:
    """One axes per (model, loss) present: models down, losses across; none when no trained
    jobs ran (then the figure holds a note instead)."""
    trained = [j for j in data.jobs if j.model != "baseline"]
    models = [m for m in MODEL_ORDER if any(j.model == m for j in trained)]
    losses = [loss for loss in LOSS_ORDER if any(j.loss == loss for j in trained)]
    if not trained:
        fig = new_figure(width, 1.5)
        fig.text(0.5, 0.5, "no trained jobs in this sweep", ha="center", va="center")
        return fig, []
    fig = new_figure(width, height * len(models) + 0.6)
    grid = fig.subplots(len(models), len(losses), squeeze=False, sharex=True, sharey=True)
    panels = []
    for r, model in enumerate(models):
        for c, loss in enumerate(losses):
            ax = grid[r][c]
            jobs = tuple(j for j in trained if j.model == model and j.loss == loss)
            ax.set_title(f"{model} · {loss}", color=FAMILY_COLORS[model])
            if not jobs or not any(j.epochs for j in jobs):
                what = (
                    "not in the grid"
                    if not jobs
                    else "no epochs stored: " + ", ".join(sorted({j.status for j in jobs}))
                )
                ax.text(
                    0.5, 0.5, what, ha="center", va="center", transform=ax.transAxes, color="grey"
                )
            panels.append(Panel(model, loss, jobs, ax))
    return fig, panels


def label_outer(panels: list[Panel], xlabel: str, ylabel: str) -> None:
    """Axis labels where the shared ticks are labelled: under the last row, left of the first
    column (each text drawn is about a millisecond; docs/benchmarks.md, "Report")."""
    for panel in panels:
        spec = panel.ax.get_subplotspec()
        if spec.is_last_row():
            panel.ax.set_xlabel(xlabel)
        if spec.is_first_col():
            panel.ax.set_ylabel(ylabel)


def baseline_lines(ax: Axes, data: SweepData, label: bool) -> None:
    """The baselines' accuracy as dashed horizontal lines: the bar a trained model must clear."""
    for family in ("baseline mae", "baseline mse"):
        accs = [j.best_acc for j in data.of_family(family) if j.best_acc is not None]
        if accs:
            ax.axhline(
                max(accs),
                color=FAMILY_COLORS[family],
                linestyle="--",
                linewidth=1.2,
                label=f"{family} ({max(accs):.3f})" if label else None,
            )
