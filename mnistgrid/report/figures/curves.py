"""Learning curves: validation accuracy per epoch, a panel per model x loss, a line per lr.

Seeds of one configuration are drawn as their mean with a band from the lowest to the highest
seed. All lines of a panel are one LineCollection: a 1,000-job sweep stays a handful of artists.
"""

from __future__ import annotations

import numpy as np
from matplotlib.cm import ScalarMappable
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from mnistgrid.report.figures.layout import Frame
from mnistgrid.report.figures.panels import Panel, baseline_lines, label_outer, trained_panels
from mnistgrid.report.figures.style import (
    DIVERGED_COLOR,
    FAMILY_COLORS,
    STOPPED_COLOR,
    TICK_INTERVALS,
    LrColors,
    accuracy_floor,
)
from mnistgrid.report.gather import JobResult, SweepData
from mnistgrid.report.summary import config_groups

# More lrs than this are a colour scale rather than a legend line each.
LEGEND_LRS = 8
# How many lrs the colour scale names.
COLORBAR_TICKS = 6


def seed_curves(jobs: tuple[JobResult, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Epochs and (3, epochs) rows of mean, lowest and highest accuracy over the seeds. An epoch
    that some seeds never reached (a diverged or unfinished run) uses the seeds that did. The
    epoch a run diverged in is left out here: it is marked with its own red x instead of
    pulling the mean of the healthy seeds down to chance."""
    table: dict[int, list[float]] = {}
    for job in jobs:
        rows = job.epochs[:-1] if job.status == "diverged" else job.epochs
        for row in rows:
            if row.valid_acc is not None:
                table.setdefault(row.epoch, []).append(row.valid_acc)
    epochs = sorted(table)
    stats = [(sum(v) / len(v), min(v), max(v)) for v in (table[e] for e in epochs)]
    return np.array(epochs, dtype=float), np.array(stats, dtype=float).reshape(-1, 3).T


def plot_curves(data: SweepData) -> Figure:
    lrs = data.lrs
    colors = LrColors(lrs)
    fig, panels = trained_panels(data, width=12, height=3.4)
    if not panels:
        return fig
    drawn = [draw_panel(panel, colors) for panel in panels]
    floor = accuracy_floor([acc for plotted, _ in drawn for acc in plotted])
    for panel, (_, ends) in zip(panels, drawn, strict=True):
        baseline_lines(panel.ax, data, label=False)
        mark_stopped(panel, floor)
        if ends:  # at the bottom when they fell below it: marked, not dropped
            x, y = zip(*ends, strict=True)
            panel.ax.plot(
                x,
                [max(a, floor) for a in y],
                "x",
                color=DIVERGED_COLOR,
                markersize=8,
                mew=2,
                clip_on=False,
            )
    # The panels share their axes: set once, for all (on each, a third of making the figure).
    shared = panels[0].ax
    shared.set_ylim(floor, 1.0)
    shared.set_xlim(shared.get_xlim())  # the epochs drawn: scaled once, not again at each draw
    shared.xaxis.set_major_locator(MaxNLocator(TICK_INTERVALS, integer=True))
    label_outer(panels, "epoch", "validation accuracy")
    frame = Frame(fig)
    scale = len(lrs) > LEGEND_LRS
    if scale:
        lr_colorbar(frame, lrs, colors)
    if handles := legend_handles(data, [] if scale else lrs, colors):
        frame.legend_right(fig, handles=handles, title=None if scale else "learning rate")
    fig.suptitle("Learning curves (validation accuracy per epoch)")
    return frame.apply()


def draw_panel(panel: Panel, colors: LrColors) -> tuple[list[float], list[tuple[int, float]]]:
    """Draw the panel's lines and bands; returns the accuracies of runs that did not diverge
    (they set the y range) and the last epoch of each diverged run."""
    segments, segment_colors, bands, band_colors, ends = [], [], [], [], []
    plotted: list[float] = []
    for group in config_groups(panel.jobs):
        epochs, stats = seed_curves(group.jobs)
        if not len(epochs):
            continue
        color = colors(group.first.lr)
        segments.append(np.column_stack([epochs, stats[0]]))
        segment_colors.append(color)
        if len(group.jobs) > 1:
            bands.append(
                np.concatenate(
                    [
                        np.column_stack([epochs, stats[2]]),
                        np.column_stack([epochs[::-1], stats[1][::-1]]),
                    ]
                )
            )
            band_colors.append(color)
        if any(j.status != "diverged" for j in group.jobs):
            plotted += stats[0].tolist()
        ends += [
            (j.epochs[-1].epoch, j.epochs[-1].valid_acc)
            for j in group.jobs
            if j.status == "diverged" and j.epochs
        ]
    ax = panel.ax
    if bands:
        ax.add_collection(PolyCollection(bands, facecolors=band_colors, alpha=0.2, linewidths=0))
    if segments:
        ax.add_collection(LineCollection(segments, colors=segment_colors, linewidths=1.5))
    return plotted, ends


def mark_stopped(panel: Panel, floor: float) -> None:
    """A square where each run that the stopping rule ended stopped: its curve ends there."""
    ends = [
        (j.epochs[-1].epoch, max(j.epochs[-1].valid_acc, floor))
        for j in panel.jobs
        if j.status == "stopped" and j.epochs and j.epochs[-1].valid_acc is not None
    ]
    if ends:
        x, y = zip(*ends, strict=True)
        panel.ax.plot(
            x, y, "s", mfc="none", mec=STOPPED_COLOR, markersize=5, mew=1.2, clip_on=False
        )


def lr_colorbar(frame: Frame, lrs: list[float], colors: LrColors) -> None:
    """The lrs as a scale of their colours, a few of them named: a legend line each would run
    off the figure (and cost more to lay out than the curves)."""
    scale = ScalarMappable(
        norm=BoundaryNorm(np.arange(len(lrs) + 1) - 0.5, len(lrs)),
        cmap=ListedColormap([colors(lr) for lr in lrs]),
    )
    ticks = sorted({round(i) for i in np.linspace(0, len(lrs) - 1, COLORBAR_TICKS)})
    bar = frame.scale_right(scale, label="learning rate", ticks=ticks)
    bar.ax.set_yticklabels([f"{lrs[i]:.3g}" for i in ticks])
    bar.ax.minorticks_off()


def legend_handles(data: SweepData, lrs: list[float], colors: LrColors) -> list:
    handles: list = [Line2D([], [], color=colors(lr), lw=2, label=f"lr={lr:g}") for lr in lrs]
    for family in ("baseline mae", "baseline mse"):
        accs = [j.best_acc for j in data.of_family(family) if j.best_acc is not None]
        if accs:
            handles.append(
                Line2D(
                    [], [], color=FAMILY_COLORS[family], ls="--", label=f"{family} {max(accs):.3f}"
                )
            )
    if any(len(g.jobs) > 1 for g in config_groups(data.jobs)):
        handles.append(Patch(color="grey", alpha=0.3, label="range over seeds"))
    if any(j.status == "stopped" for j in data.jobs):
        handles.append(
            Line2D(
                [],
                [],
                color=STOPPED_COLOR,
                marker="s",
                mfc="none",
                ls="none",
                label="stopped early",
            )
        )
    if any(j.status == "diverged" for j in data.jobs):
        handles.append(
            Line2D(
                [],
                [],
                color=DIVERGED_COLOR,
                marker="x",
                ls="none",
                mew=2,
                label="diverged (last epoch)",
            )
        )
    return handles
