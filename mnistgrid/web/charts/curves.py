"""Learning curves that grow live: validation accuracy per epoch, a panel per model x loss
(as in the report), a line per job coloured by its learning rate.

The lines of one panel and learning rate are one trace, each job's line ended by a gap (each
point carries its job's id, for the hover): a browser draws a thousand jobs as some forty traces
in a fifth of the time it takes for a thousand. `curves_figure` says which jobs each trace
holds, in order, so that the page can put a job's new epochs in its place.
"""

from __future__ import annotations

from plotly import graph_objects as go

from db.records import EpochPoint
from mnistgrid.report.gather import JobResult, SweepData
from mnistgrid.web.charts.style import Figure, Panels, lr_colors, note_figure, trained
from mnistgrid.web.sweep_data import Points

HEIGHT_PER_ROW = 260

# Every trace has these properties; plotly checks them once, here.
_TRACE = go.Scatter(
    mode="lines",
    line={"width": 1.2},
    hovertemplate="job #%{customdata}, %{fullData.name}<br>epoch %{x}: %{y:.4f}<extra></extra>",
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


def curves_figure(data: SweepData, points: Points) -> tuple[Figure, list[list[int]]]:
    """The figure as plotly.js takes it, and the jobs of each trace in their order. The legend
    has one entry per learning rate; clicking it shows or hides that lr's jobs."""
    panels = curves_panels(data)
    if not panels:
        return note_figure("no trained jobs in this sweep"), []
    groups: dict[tuple[str, float], list[JobResult]] = {}
    for job in trained(data):
        groups.setdefault((panels.suffix(job.model, job.loss), job.lr), []).append(job)
    colors = lr_colors(sorted({lr for _, lr in groups}))
    shown: set[float] = set()
    traces, members = [], []
    for (suffix, lr), jobs in sorted(groups.items(), key=lambda item: item[0][1]):
        traces.append(lr_trace(lr, colors[lr], suffix, jobs, points, lr not in shown))
        members.append([job.job_id for job in jobs])
        shown.add(lr)
    return panels.figure(traces), members


def lr_trace(
    lr: float,
    color: str,
    suffix: str,
    jobs: list[JobResult],
    points: Points,
    in_legend: bool,
) -> dict[str, object]:
    x: list[int | None] = []
    y: list[float | None] = []
    ids: list[int] = []
    for job in jobs:
        line = scored(points.get(job.job_id, []))
        x += [p.epoch for p in line] + [None]
        y += [round(p.valid_acc, 5) for p in line] + [None]  # type: ignore[arg-type]
        ids += [job.job_id] * (len(line) + 1)
    return {
        **_TRACE,
        "x": x,
        "y": y,
        "customdata": ids,  # each point's job, for the hover
        "name": f"lr={lr:g}",
        "legendgroup": f"lr={lr:g}",
        "showlegend": in_legend,
        "line": {"color": color, "width": 1.2},
        "xaxis": f"x{suffix}",
        "yaxis": f"y{suffix}",
    }


def scored(points: list[EpochPoint]) -> list[EpochPoint]:
    return [p for p in points if p.valid_acc is not None]
