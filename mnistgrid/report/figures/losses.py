"""Loss comparison: for each model, the best accuracy each loss reached (over lr and the rest)."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from mnistgrid.report.figures.layout import Frame
from mnistgrid.report.figures.panels import baseline_lines
from mnistgrid.report.figures.style import LOSS_COLORS, new_figure
from mnistgrid.report.gather import LOSS_ORDER, MODEL_ORDER, SweepData
from mnistgrid.report.summary import LossBest


def plot_losses(data: SweepData, bests: list[LossBest]) -> Figure:
    fig = new_figure(9, 4.2)
    ax = fig.add_subplot()
    models = [m for m in MODEL_ORDER if any(b.model == m for b in bests)]
    losses = [loss for loss in LOSS_ORDER if any(b.loss == loss for b in bests)]
    if not bests:
        ax.text(
            0.5,
            0.5,
            "no trained jobs with an accuracy yet",
            ha="center",
            va="center",
            transform=ax.transAxes,
        )
        return fig
    width = 0.8 / len(losses)
    for i, loss in enumerate(losses):
        found = {b.model: b for b in bests if b.loss == loss}
        x = np.array([m for m, model in enumerate(models) if model in found], dtype=float)
        x += (i - (len(losses) - 1) / 2) * width
        accs = [found[model].acc for model in models if model in found]
        bars = ax.bar(x, [a.mean for a in accs], width * 0.92, color=LOSS_COLORS[loss], label=loss)
        seeds = [(xi, a) for xi, a in zip(x, accs, strict=True) if a.n > 1]
        if seeds:
            ax.errorbar(
                [xi for xi, _ in seeds],
                [a.mean for _, a in seeds],
                yerr=[[a.mean - a.low for _, a in seeds], [a.high - a.mean for _, a in seeds]],
                fmt="none",
                ecolor="black",
                capsize=4,
            )
        ax.bar_label(bars, labels=[f"{a.mean:.3f}" for a in accs], padding=2, fontsize=8)
    baseline_lines(ax, data, label=True)
    ax.set_xticks(range(len(models)), models)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("model")
    ax.set_ylabel("best validation accuracy")
    several = any(b.acc.n > 1 for b in bests)
    ax.set_title(
        "Loss comparison: best accuracy per loss at its best learning rate"
        + (" (mean over seeds; bars: range)" if several else "")
    )
    frame = Frame(fig)
    # Beside the axes, not on them: inside, it covered the bottom of the MLP's bars.
    frame.legend_right(ax, frameon=False)
    return frame.apply()
