"""Per digit: each family's best job's accuracy on every digit, and its confusion matrix."""

from __future__ import annotations

import functools

import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.path import Path
from matplotlib.textpath import TextPath
from matplotlib.transforms import Affine2D

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
    write_counts(ax, counts, fractions > 0.5, size=6.5 if len(labels) > 2 else 10)
    ax.set_xlabel("predicted digit")
    ax.set_ylabel("true digit")
    ax.set_title(family, color=FAMILY_COLORS[family])
    return image


def write_counts(ax: Axes, counts: np.ndarray, dark: np.ndarray, size: float) -> None:
    """Each cell's count at its centre, white on a dark cell, as one collection of glyph
    outlines: a hundred `Text`s were a third of the figure, laid out and drawn one by one."""
    glyphs = [centred_outline(str(count), size) for count in counts.flat]
    colors = ["white" if cell else "black" for cell in dark.flat]
    cells = [(p, t) for t, p in np.ndindex(counts.shape)]
    ax.add_collection(
        PathCollection(
            glyphs,
            offsets=cells,
            offset_transform=ax.transData,
            transform=Affine2D().scale(1 / 72) + ax.figure.dpi_scale_trans,  # points to pixels
            facecolors=colors,
            edgecolors="none",
        ),
        autolim=False,
    )


@functools.lru_cache(maxsize=4096)
def centred_outline(text: str, size: float) -> Path:
    """`text`'s glyph outlines in points, centred on (0, 0). Cached: the small counts recur
    in every matrix, and laying a text out is most of making its outline."""
    outline = TextPath((0, 0), text, prop=FontProperties(size=size))
    low, high = outline.vertices.min(0), outline.vertices.max(0)
    return Path(outline.vertices - (low + high) / 2, outline.codes)
