"""What every figure shares: the Agg backend, one colour per family, per loss and per lr."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display, no GUI toolkit

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.colors import Colormap  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import AutoLocator, FuncFormatter, NullLocator  # noqa: E402

from mnistgrid.report.palette import (  # noqa: E402, F401 (the figures import them from here)
    DIVERGED_COLOR,
    FAMILY_COLORS,
    LOSS_COLORS,
    LR_CMAP,
    STOPPED_COLOR,
    accuracy_floor,
    lr_position,
)

DPI = 110

plt.rcParams.update(
    {
        "figure.facecolor": "white",
        "axes.grid": True,
        "grid.alpha": 0.3,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.titlesize": 11,
        "axes.labelsize": 10,
        "legend.fontsize": 8,
        "xtick.labelsize": 9,
        "ytick.labelsize": 9,
        # Each title just above its axes: no figure has ticks or labels on top, and left to
        # place it, matplotlib measures every tick label of the axes once more to make sure.
        "axes.titley": 1.0,
        # Glyphs as the font draws them: FreeType's autohinter refits every glyph of every
        # text drawn, some 7% of the figures' time, for a difference seen only under a loupe.
        "text.hinting": "no_hinting",
    }
)
# Intervals on a linear axis with matplotlib's default ticks: it picks up to about nine, by the
# axis' length. Every tick is half a dozen artists made and drawn, most of a figure's frame.
TICK_INTERVALS = 5


def new_figure(width: float, height: float) -> Figure:
    # Figure(), not plt.figure(): pyplot's registry would keep every figure alive.
    # No layout engine: each figure places itself (layout.py), at a fraction of the cost.
    return Figure(figsize=(width, height), dpi=DPI)


def save(fig: Figure, path: Path) -> Path:
    for ax in fig.axes:
        fewer_ticks(ax)
    # zlib's fastest level: a quarter of a figure's saving time for files a tenth bigger.
    fig.savefig(path, format="png", dpi=DPI, pil_kwargs={"compress_level": 1})
    return path


def fewer_ticks(ax: Axes) -> None:
    """At most TICK_INTERVALS intervals on the axes' linear axes that a figure left to
    matplotlib's choice (what it set itself, lrs or epochs, stays)."""
    for axis in (ax.xaxis, ax.yaxis):
        locator = axis.get_major_locator()
        if type(locator) is AutoLocator:
            locator.set_params(nbins=TICK_INTERVALS)


class LrColors:
    """One colour per learning rate, the same in every panel of the sweep. Colours go by the
    lr's rank, not its value: 0.1, 0.3, 1 stay apart even when 1e38 is in the grid too."""

    def __init__(self, lrs: list[float]) -> None:
        self.lrs = sorted(set(lrs))
        self.cmap: Colormap = matplotlib.colormaps[LR_CMAP]

    def __call__(self, lr: float) -> tuple[float, float, float, float]:
        return self.cmap(lr_position(lr, self.lrs))


def lr_ticks(ax: Axes, lrs: list[float]) -> None:
    """Label the lrs of the grid themselves on a log axis, when they are few and close."""
    ax.set_xscale("log")
    if lrs and len(lrs) <= 8 and max(lrs) / min(lrs) <= 1e4:
        ax.set_xticks(lrs, [f"{lr:g}" for lr in lrs])
        ax.xaxis.set_minor_locator(NullLocator())
    elif lrs and max(lrs) / min(lrs) <= 1e4:
        plain_log_ticks(ax)
    # wider than that: matplotlib's own 10^n labels are the short ones


def plain_log_ticks(ax: Axes) -> None:
    """`0.2`, `5`, `30` rather than `2x10^-1` on a log axis."""
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(
        FuncFormatter(lambda v, _: f"{v:g}" if _lead(v) in (2, 5) else "")
    )


def _lead(value: float) -> int:
    """The leading digit: 3 for 0.03 and for 300."""
    return round(value / 10 ** math.floor(math.log10(value))) if value > 0 else 0
