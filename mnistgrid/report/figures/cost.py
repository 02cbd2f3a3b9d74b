"""Cost: training seconds against best accuracy, one point per configuration, by family."""

from __future__ import annotations

from matplotlib.figure import Figure

from mnistgrid.report.figures.layout import Frame
from mnistgrid.report.figures.style import (
    DIVERGED_COLOR,
    FAMILY_COLORS,
    new_figure,
    plain_log_ticks,
)
from mnistgrid.report.gather import FAMILIES, SweepData
from mnistgrid.report.summary import config_groups


def plot_cost(data: SweepData) -> Figure:
    fig = new_figure(9, 4.6)
    ax = fig.add_subplot()
    seeds = False
    for family in FAMILIES:
        # Diverged runs stopped early: their cost is drawn apart, not averaged in.
        healthy = [j for j in data.of_family(family) if j.status != "diverged"]
        groups = [
            g for g in config_groups(healthy) if g.seconds is not None and g.best_acc is not None
        ]
        if not groups:
            continue
        secs = [g.seconds for g in groups]
        accs = [g.best_acc for g in groups]
        seeds = seeds or any(s.n > 1 for s in secs)
        ax.errorbar(
            [s.mean for s in secs],
            [a.mean for a in accs],
            xerr=[[s.mean - s.low for s in secs], [s.high - s.mean for s in secs]],
            yerr=[[a.mean - a.low for a in accs], [a.high - a.mean for a in accs]],
            fmt="o",
            color=FAMILY_COLORS[family],
            alpha=0.8,
            markersize=6,
            elinewidth=1,
            capsize=2,
            label=f"{family} ({len(groups)})",
        )
    diverged = [j for j in data.jobs if j.status == "diverged" and j.seconds and j.best_acc]
    if diverged:
        ax.plot(
            [j.seconds for j in diverged],
            [j.best_acc for j in diverged],
            "x",
            color=DIVERGED_COLOR,
            mew=1.5,
            markersize=6,
            label="diverged job",
        )
    ax.set_xscale("log")
    plain_log_ticks(ax)
    ax.set_xlabel("training seconds per job (log scale)")
    ax.set_ylabel("best validation accuracy")
    extra = "\n(a point per configuration: mean over seeds, bars: range)" if seeds else ""
    ax.set_title(f"Cost: training seconds against best accuracy{extra}")
    handles, labels = ax.get_legend_handles_labels()
    order = sorted(range(len(labels)), key=lambda i: labels[i] == "diverged job")
    frame = Frame(fig)
    frame.legend_right(
        fig,
        [handles[i] for i in order],
        [labels[i] for i in order],
        title="family (configurations)",
    )
    return frame.apply()
