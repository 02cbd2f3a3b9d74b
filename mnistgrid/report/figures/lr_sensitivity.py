"""Learning-rate sensitivity: final accuracy against lr (log scale), a panel per model x loss.

A point is the mean over the seeds that did not diverge, its bar their range. Diverged runs are
data, not gaps: a red x at the bottom of the panel at their lr.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from mnistgrid.report.figures.layout import Frame
from mnistgrid.report.figures.panels import Panel, baseline_lines, label_outer, trained_panels
from mnistgrid.report.figures.style import (
    DIVERGED_COLOR,
    FAMILY_COLORS,
    STOPPED_COLOR,
    accuracy_floor,
    lr_ticks,
)
from mnistgrid.report.gather import JobResult, SweepData
from mnistgrid.report.summary import Spread, config_groups

LINESTYLES = ("-", "--", ":", "-.")
MARKERS = ("o", "s", "^", "v", "D", "P")


def shape_label(job: JobResult) -> str:
    """What else than lr and seed sets the run apart: `mlp64-sigmoid batch=256`."""
    return f"{job.spec.shape_label()} batch={job.spec.batch_size}"


def plot_lr_sensitivity(data: SweepData) -> Figure:
    fig, panels = trained_panels(data, width=12, height=3.2)
    if not panels:
        return fig
    # Every point and its seeds' range stays in view: there are few of them.
    lows = [s.low for p in panels for g in config_groups(p.jobs) if (s := g.final_acc)]
    floor = accuracy_floor(lows, quantile=0)
    lrs = data.lrs
    # The panels share their axes: set once, for all (set on each, it was a sixth of the figure).
    lr_ticks(panels[0].ax, lrs)
    panels[0].ax.set_ylim(floor, 1.0)
    for panel in panels:
        draw_panel(panel, floor)
        baseline_lines(panel.ax, data, label=True)
    label_outer(panels, "learning rate (log scale)", "final validation accuracy")
    if lrs:
        margin = (max(lrs) / min(lrs)) ** 0.05 if max(lrs) > min(lrs) else 2.0
        panels[0].ax.set_xlim(min(lrs) / margin, max(lrs) * margin)
    handles: dict[str, object] = {}
    for panel in panels:
        for handle, label in zip(*panel.ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(
                label.split(" (")[0] if label.startswith("diverged") else label, handle
            )
    frame = Frame(fig)
    frame.legend_right(fig, list(handles.values()), list(handles))
    fig.suptitle(
        "Learning-rate sensitivity: final accuracy, mean over seeds (bars: range over seeds)"
    )
    return frame.apply()


def draw_panel(panel: Panel, floor: float) -> None:
    ax, color = panel.ax, FAMILY_COLORS[panel.model]
    shapes: dict[str, list[JobResult]] = {}
    for job in panel.jobs:
        shapes.setdefault(job.spec.shape_key(), []).append(job)
    for i, jobs in enumerate(shapes.values()):
        groups = sorted(config_groups(jobs), key=lambda g: g.first.lr)
        points = [(g.first.lr, s) for g in groups if (s := g.final_acc) is not None]
        label = panel.model if len(shapes) == 1 else shape_label(jobs[0])
        if points:
            style = {"ls": LINESTYLES[i % len(LINESTYLES)], "marker": MARKERS[i % len(MARKERS)]}
            draw_points(ax, points, color=color, markersize=5, label=label, **style)
    mark_stopped(panel)
    diverged = Counter(j.lr for j in panel.jobs if j.status == "diverged")
    for lr, n in diverged.items():
        if n > 1:  # several runs at one lr share a marker: say how many
            ax.annotate(
                f"{n}",
                (lr, floor),
                xytext=(0, 7),
                textcoords="offset points",
                ha="center",
                color=DIVERGED_COLOR,
                fontsize=8,
                annotation_clip=False,
            )
    if diverged:
        ax.plot(
            list(diverged),
            [floor] * len(diverged),
            "x",
            color=DIVERGED_COLOR,
            markersize=9,
            mew=2,
            clip_on=False,
            zorder=5,
            label="diverged",
        )


def draw_points(ax: Axes, points: list[tuple[float, Spread]], **style: object) -> None:
    """Each lr's mean over its seeds, joined, with bars for their range where there are several."""
    lr = np.array([p[0] for p in points])
    mean = np.array([p[1].mean for p in points])
    if all(p[1].n == 1 for p in points):
        ax.plot(lr, mean, **style)  # no range to draw: a line is a tenth of an errorbar's cost
        return
    err = np.array(
        [[p[1].mean - p[1].low for p in points], [p[1].high - p[1].mean for p in points]]
    )
    ax.errorbar(lr, mean, yerr=err, capsize=3, **style)


def mark_stopped(panel: Panel) -> None:
    """Ring the points of configurations the stopping rule ended: their final accuracy is the
    one where they stopped, not after every epoch."""
    points = [
        (g.first.lr, s.mean)
        for g in config_groups(panel.jobs)
        if any(j.status == "stopped" for j in g.jobs) and (s := g.final_acc) is not None
    ]
    if points:
        lr, mean = zip(*points, strict=True)
        panel.ax.plot(
            lr,
            mean,
            "o",
            mfc="none",
            mec=STOPPED_COLOR,
            markersize=10,
            mew=1.2,
            zorder=6,
            label="stopped early",
        )
