"""Learning curves that grow live: validation accuracy per epoch, a panel per model x loss
(as in the report), one line per job coloured by its learning rate.

One line per job, not the report's mean over seeds: a new epoch then extends exactly one trace
in the browser (`Plotly.extendTraces`), with nothing to re-average. `curves_figure` says which
trace is which job.
"""

from __future__ import annotations

from plotly import graph_objects as go

from db.records import EpochPoint
from mnistgrid.report.gather import JobResult, SweepData
from mnistgrid.web.charts.style import Figure, Panels, lr_colors, note_figure, trained
from mnistgrid.web.sweep_data import Points

HEIGHT_PER_ROW = 260

# Every job's trace has these properties; plotly checks them once, here.
_TRACE = go.Scatter(
    mode="lines",
    hovertemplate="%{fullData.name}<br>epoch %{x}: %{y:.4f}<extra></extra>",
).to_plotly_json()


def curves_panels(data: SweepData) -> Panels:
    """The panels with the baselines' lines, and no job yet."""
    panels = Panels(
        data,
        HEIGHT_PER_ROW,
        legend={"title": {"text": "learning rate"}},
        hovermode="closest",
    )
    if panels:
        panels.axis_titles("epoch", "validation accuracy")
        panels.baseline_lines(data)
    return panels


def curves_layout(data: SweepData) -> dict:
    panels = curves_panels(data)
    return panels.layout if panels else note_figure("no trained jobs")["layout"]


def curves_figure(data: SweepData, points: Points) -> tuple[Figure, dict[int, int]]:
    """The figure as plotly.js takes it, and each job's trace index (for the page to extend).
    The legend has one entry per learning rate; clicking it shows or hides that lr's jobs."""
    panels = curves_panels(data)
    if not panels:
        return note_figure("no trained jobs in this sweep"), {}
    jobs = trained(data)
    colors = lr_colors(sorted({job.lr for job in jobs}))
    traces = [legend_trace(lr, color) for lr, color in colors.items()]
    index = {}
    for job in jobs:
        index[job.job_id] = len(traces)
        suffix = panels.suffix(job.model, job.loss)
        traces.append(job_trace(job, points.get(job.job_id, []), colors[job.lr], suffix))
    return panels.figure(traces), index


def legend_trace(lr: float, color: str) -> dict[str, object]:
    """An empty trace that stands in the legend for every job of one learning rate."""
    return {
        **_TRACE,
        "x": [None],
        "y": [None],
        "name": f"lr={lr:g}",
        "legendgroup": f"lr={lr:g}",
        "showlegend": True,
        "line": {"color": color, "width": 2},
    }


def job_trace(
    job: JobResult, points: list[EpochPoint], color: str, suffix: str
) -> dict[str, object]:
    scored = [p for p in points if p.valid_acc is not None]
    return {
        **_TRACE,
        "x": [p.epoch for p in scored],
        "y": [round(p.valid_acc, 5) for p in scored],
        "name": job.label,
        "legendgroup": f"lr={job.lr:g}",
        "showlegend": False,
        "line": {"color": color, "width": 1.2},
        "xaxis": f"x{suffix}",
        "yaxis": f"y{suffix}",
    }
