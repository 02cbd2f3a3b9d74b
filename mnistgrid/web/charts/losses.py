"""Loss comparison, as in the report: for each model, the best accuracy each loss reached at
its best learning rate (the mean over seeds of that configuration, a bar for their range)."""

from __future__ import annotations

from plotly import graph_objects as go

from mnistgrid.report.gather import LOSS_ORDER, MODEL_ORDER, SweepData
from mnistgrid.report.palette import LOSS_COLORS
from mnistgrid.report.summary import LossBest
from mnistgrid.web.charts.style import (
    Figure,
    add_baseline_lines,
    as_json,
    base_layout,
    note_figure,
)


def losses_figure(data: SweepData, bests: list[LossBest]) -> Figure:
    if not bests:
        return note_figure("no trained job has an accuracy yet")
    models = [m for m in MODEL_ORDER if any(b.model == m for b in bests)]
    fig = go.Figure(layout=base_layout(340, barmode="group", hovermode="closest"))
    for loss in LOSS_ORDER:
        found = [b for b in bests if b.loss == loss]
        if not found:
            continue
        fig.add_bar(
            x=[b.model for b in found],
            y=[b.acc.mean for b in found],
            error_y={
                "type": "data",
                "symmetric": False,
                "array": [b.acc.high - b.acc.mean for b in found],
                "arrayminus": [b.acc.mean - b.acc.low for b in found],
                "visible": any(b.acc.n > 1 for b in found),
            },
            text=[f"{b.acc.mean:.3f}" for b in found],
            textposition="outside",
            marker_color=LOSS_COLORS[loss],
            name=loss,
            customdata=[b.group.first.config_label for b in found],
            hovertemplate="%{customdata}<br>%{y:.4f}<extra></extra>",
        )
    add_baseline_lines(fig, data)
    fig.update_xaxes(title_text="model", categoryorder="array", categoryarray=models)
    fig.update_yaxes(title_text="best validation accuracy", range=[0, 1.08])
    return as_json(fig)
