"""How the report writes its numbers: accuracies, seconds, a spread over seeds. The web view
(mnistgrid/web) writes them the same way; this module imports neither torch nor matplotlib."""

from __future__ import annotations

import math

from mnistgrid.report.summary import Spread


def acc(value: float | None) -> str:
    return "" if value is None or not math.isfinite(value) else f"{value:.4f}"


def seconds(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:.2f}" if value < 10 else f"{value:,.1f}"


def seeds_text(s: Spread) -> str:
    if s.n < 2:
        return "1 seed"
    return f"{s.mean:.4f} ({s.low:.4f}-{s.high:.4f}, {s.n} seeds)"
