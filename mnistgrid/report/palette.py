"""The report's colours and accuracy ranges, apart from matplotlib: the web view
(mnistgrid/web) draws with plotly and uses the same ones, so a family, a loss or a learning
rate looks the same in both."""

from __future__ import annotations

import math

# Colour-blind-safe (Dark2), and the same family is the same colour in every figure.
FAMILY_COLORS = {
    "baseline mae": "#a6761d",
    "baseline mse": "#e6ab02",
    "linear": "#1b9e77",
    "mlp": "#7570b3",
}
LOSS_COLORS = {"mnist_loss": "#1f78b4", "softmax_mse": "#ff7f00", "cross_entropy": "#33a02c"}
DIVERGED_COLOR = "#d62728"
STOPPED_COLOR = "#222222"  # runs a stopping rule ended early
# Learning rates are coloured along viridis by their rank (see `lr_position`).
LR_CMAP = "viridis"


def lr_position(lr: float, lrs: list[float]) -> float:
    """Where `lr` sits on the lr colour map, 0..0.85: by its rank among `lrs`, not its value,
    so 0.1, 0.3, 1 stay apart even when 1e38 is in the grid too; viridis' yellow end is hard
    to see on white, so it stops at 85%."""
    ranked = sorted(set(lrs))
    return 0.85 * ranked.index(lr) / max(1, len(ranked) - 1)


def accuracy_floor(values: list[float], margin: float = 0.03, quantile: float = 0.05) -> float:
    """A y-axis bottom that shows the differences between runs that learned something. Below
    the `quantile` of `values` is cut: one stray run among many does not flatten the rest."""
    finite = sorted(v for v in values if v is not None and math.isfinite(v))
    if not finite:
        return 0.0
    low = finite[int(len(finite) * quantile)]
    return max(0.0, min(low - margin, 0.9))
