"""What every figure shares: the Agg backend, one colour per family, per loss and per lr."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display, no GUI toolkit

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.colors import Colormap, LogNorm, Normalize  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

# Colour-blind-safe (Dark2), and the same family is the same colour in every figure.
FAMILY_COLORS = {
    "baseline mae": "#a6761d",
    "baseline mse": "#e6ab02",
    "linear": "#1b9e77",
    "mlp": "#7570b3",
}
LOSS_COLORS = {"mnist_loss": "#1f78b4", "softmax_mse": "#ff7f00", "cross_entropy": "#33a02c"}
DIVERGED_COLOR = "#d62728"
LR_CMAP = "viridis"
DPI = 110

plt.rcParams.update({
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
})


def new_figure(width: float, height: float) -> Figure:
    # Figure(), not plt.figure(): pyplot's registry would keep every figure alive.
    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def save(fig: Figure, path: Path) -> Path:
    fig.savefig(path, format="png", dpi=DPI)
    return path


class LrColors:
    """One colour per learning rate, on a log scale shared by every panel of the sweep."""

    def __init__(self, lrs: list[float]) -> None:
        low, high = (min(lrs), max(lrs)) if lrs else (1.0, 1.0)
        self.norm: Normalize = LogNorm(low, high) if high > low else Normalize(low - 1, high + 1)
        self.cmap: Colormap = matplotlib.colormaps[LR_CMAP].resampled(256)

    def __call__(self, lr: float) -> tuple[float, float, float, float]:
        # viridis' yellow end is hard to see on white: stop at 90%.
        return self.cmap(0.9 * float(self.norm(lr)))


def accuracy_floor(values: list[float], margin: float = 0.03) -> float:
    """A y-axis bottom that shows the differences between runs that learned something."""
    finite = sorted(v for v in values if v is not None and math.isfinite(v))
    if not finite:
        return 0.0
    low = finite[len(finite) // 20]  # the 5th percentile: one stray run does not flatten all
    return max(0.0, min(low - margin, 0.9))
