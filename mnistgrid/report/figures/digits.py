"""Per digit: each family's best job's accuracy on every digit, and its confusion matrix."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from mnistgrid.report.confusion import Confusion
from mnistgrid.report.figures.layout import Frame
from mnistgrid.report.figures.style import FAMILY_COLORS, new_figure
from mnistgrid.report.gather import SweepData
from mnistgrid.report.summary import FamilyBest, digit_order, per_digit_spread


def plot_per_digit(data: SweepData, bests: list[FamilyBest]) -> Figure:
    digits = [data.classes[i] for i in digit_order(data.classes)]
    fig = new_figure(max(6.0, 1.0 * len(digits) + 2.5), 4.0)
    ax = fig.add_subplot()
    width = 0.8 / max(1, len(bests))
    for i, best in enumerate(bests):
        same = [j for j in data.of_family(best.family) if j.config_key == best.job.config_key]
        spreads = per_digit_spread(same, data.classes)
        x = np.arange(len(digits)) + (i - (len(bests) - 1) / 2) * width
        mean = [s.mean if s else np.nan for s in spreads.values()]
        err = [
            [s.mean - s.low if s else 0 for s in spreads.values()],
            [s.high - s.mean if s else 0 for s in spreads.values()],
        ]
        ax.bar(
            x,
            mean,
            width * 0.92,
            yerr=err if len(same) > 1 else None,
            capsize=2,
            color=FAMILY_COLORS[best.family],
            label=f"{best.family} (#{best.job.job_id})",
        )
    ax.set_xticks(range(len(digits)), [str(d) for d in digits])
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("digit")
    ax.set_ylabel("validation accuracy on that digit")
    seeds = "; mean over its seeds, bars: range" if any(b.seeds.n > 1 for b in bests) else ""
    ax.set_title(f"Per-digit accuracy of each family's best job (at its best epoch{seeds})")
    frame = Frame(fig)
    frame.legend_below(ncols=min(4, len(bests)))
    return frame.apply()


def plot_confusions(confusions: list[tuple[str, Confusion]]) -> Figure:
    """Row-normalised matrices (rows: true digit) with the counts written in each cell."""
    n = len(confusions)
    cols = min(n, 2)
    rows = -(-n // cols)
    size = 4.6 if len(confusions[0][1].classes) > 2 else 3.2
    fig = new_figure(size * cols + 0.8, size * rows)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    image = None
    for ax, (family, confusion) in zip(axes, confusions, strict=False):
        image = draw_matrix(ax, family, confusion)
    for ax in axes[n:]:
        ax.set_visible(False)
    frame = Frame(fig, y_ticks=tuple(str(c) for c in confusions[0][1].classes))
    if image is not None:
        frame.scale_right(image, label="fraction of the true digit")
    fig.suptitle("Confusion matrices of each family's best job")
    return frame.apply()


def draw_matrix(ax, family: str, confusion: Confusion):
    order = digit_order(confusion.classes)
    counts = np.array(confusion.counts)[np.ix_(order, order)]
    fractions = counts / np.maximum(counts.sum(1, keepdims=True), 1)
    image = ax.imshow(fractions, cmap="Blues", vmin=0, vmax=1)
    labels = [str(confusion.classes[i]) for i in order]
    ax.set_xticks(range(len(labels)), labels)
    ax.set_yticks(range(len(labels)), labels)
    ax.grid(False)
    small = len(labels) > 2
    for (t, p), count in np.ndenumerate(counts):
        ax.text(
            p,
            t,
            str(count),
            ha="center",
            va="center",
            fontsize=6.5 if small else 10,
            color="white" if fractions[t, p] > 0.5 else "black",
        )
    ax.set_xlabel("predicted digit")
    ax.set_ylabel("true digit")
    ax.set_title(family, color=FAMILY_COLORS[family])
    return image
