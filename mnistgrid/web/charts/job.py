"""One job's figures: its losses, its accuracy and its accuracy on each digit, per epoch.

`job_series` is what each figure plots; a live update sends the same series for the new epochs
only, which the page appends with `Plotly.extendTraces`.
"""

from __future__ import annotations

import math

from plotly import graph_objects as go

from db.records import EpochRow
from mnistgrid.report.summary import digit_order
from mnistgrid.spec import JobSpec
from mnistgrid.web.charts.style import Figure, as_json, base_layout

Series = dict[str, list[tuple[str, list[float | None]]]]

TITLES = {
    "losses": ("loss (a gap: NaN or infinite)", "loss"),
    "accuracy": ("validation accuracy", "accuracy"),
    "digits": ("validation accuracy on each digit", "accuracy"),
}


def finite(value: float | None) -> float | None:
    """JSON has no NaN or infinity: a diverged loss is a gap in its line."""
    return value if value is not None and math.isfinite(value) else None


def job_series(spec: JobSpec, rows: list[EpochRow]) -> Series:
    """Each figure's lines: (name, one value per row)."""
    classes = spec.data.classes
    series: Series = {
        "accuracy": [("validation accuracy", [row.valid_acc for row in rows])],
        "digits": [
            (f"digit {classes[i]}", [finite(at(row.per_class_acc, i)) for row in rows])
            for i in digit_order(classes)
        ],
    }
    if spec.model != "baseline":
        series["losses"] = [
            ("training loss", [finite(row.train_loss) for row in rows]),
            ("validation loss", [finite(row.valid_loss) for row in rows]),
        ]
    return series


def at(values: tuple[float, ...], i: int) -> float | None:
    return values[i] if i < len(values) else None


def job_figures(spec: JobSpec, rows: list[EpochRow]) -> dict[str, Figure]:
    epochs = [row.epoch for row in rows]
    figures = {}
    for name, lines in job_series(spec, rows).items():
        title, y_title = TITLES[name]
        fig = go.Figure(layout=base_layout(300, title={"text": title}, hovermode="x unified"))
        for label, values in lines:
            fig.add_scatter(x=epochs, y=values, mode="lines+markers", name=label)
        fig.update_xaxes(title_text="epoch", range=[0.5, max(spec.epochs, 1) + 0.5])
        fig.update_yaxes(title_text=y_title)
        figures[name] = as_json(fig)
    return figures


def job_extension(spec: JobSpec, rows: list[EpochRow]) -> dict[str, dict[str, list]]:
    """What `Plotly.extendTraces` takes to append `rows` to each figure."""
    epochs = [row.epoch for row in rows]
    return {
        name: {"x": [epochs for _ in lines], "y": [values for _, values in lines]}
        for name, lines in job_series(spec, rows).items()
    }
