"""Headline: each family's best accuracy, its spread over seeds, and the source post's figure."""

from __future__ import annotations

from matplotlib.figure import Figure

from mnistgrid.report.figures.layout import Frame
from mnistgrid.report.figures.style import FAMILY_COLORS, new_figure
from mnistgrid.report.summary import FamilyBest


def plot_headline(bests: list[FamilyBest]) -> Figure:
    fig = new_figure(9, 0.6 * len(bests) + 2.1)
    ax = fig.add_subplot()
    ys = list(range(len(bests)))[::-1]
    for y, best in zip(ys, bests, strict=True):
        color = FAMILY_COLORS[best.family]
        s = best.seeds
        ax.errorbar(
            s.mean,
            y,
            xerr=[[s.mean - s.low], [s.high - s.mean]],
            fmt="none",
            ecolor=color,
            elinewidth=2,
            capsize=5,
        )
        ax.plot(best.job.best_acc, y, "o", color=color, markersize=10)
        ax.annotate(
            f"{best.job.best_acc:.4f}",
            (best.job.best_acc, y),
            xytext=(0, 9),
            textcoords="offset points",
            ha="center",
            fontsize=9,
        )
        if best.reference is not None:
            ax.plot(best.reference, y, "D", mfc="none", mec="black", markersize=8)
        if best.family.startswith("baseline") and best.mean_class_acc is not None:
            # The posts quote the baselines as mean per-class accuracy: show that one too.
            ax.plot(best.mean_class_acc, y, "|", color="black", markersize=14, mew=2)
    ax.plot([], [], "o", color="grey", label="best job of the sweep")
    if any(b.seeds.n > 1 for b in bests):
        ax.errorbar(
            [],
            [],
            xerr=[],
            fmt="none",
            ecolor="grey",
            capsize=4,
            label="range over seeds (that configuration)",
        )
    if any(b.family.startswith("baseline") for b in bests):
        ax.plot(
            [],
            [],
            "|",
            color="black",
            markersize=10,
            mew=2,
            label="its mean per-class accuracy (baselines)",
        )
    if any(b.reference is not None for b in bests):
        ax.plot([], [], "D", mfc="none", mec="black", label="source post")
    ax.set_yticks(ys, [b.family for b in bests])
    for label, best in zip(ax.get_yticklabels(), bests, strict=True):
        label.set_color(FAMILY_COLORS[best.family])
    values = [b.seeds.low for b in bests] + [b.reference or 1.0 for b in bests]
    ax.set_xlim(max(0.0, min(values) - 0.05), 1.0)
    ax.set_ylim(-0.6, len(bests) - 0.4)
    ax.set_xlabel("best validation accuracy")
    ax.set_title("Best accuracy per family")
    frame = Frame(fig, y_ticks=tuple(b.family for b in bests))
    # Under the axes: inside, it covered the lowest family's point.
    frame.legend_below(ncols=2)
    return frame.apply()
