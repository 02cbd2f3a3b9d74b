"""Learning-rate sensitivity, as in the report: final accuracy against lr (log scale), a panel
per model x loss, a point per configuration (the mean over its seeds that did not diverge, a
bar for their range); diverged runs as red x at the bottom of their panel, at their lr."""

from __future__ import annotations

from collections import Counter

from plotly import graph_objects as go

from mnistgrid.report.gather import JobResult, SweepData
from mnistgrid.report.palette import DIVERGED_COLOR, FAMILY_COLORS, accuracy_floor
from mnistgrid.report.summary import config_groups
from mnistgrid.web.charts.style import Figure, Panels, note_figure, trained

SYMBOLS = ("circle", "square", "triangle-up", "triangle-down", "diamond", "cross")
DASHES = ("solid", "dash", "dot", "dashdot")


def lr_figure(data: SweepData) -> Figure:
    panels = Panels(data, 240, hovermode="closest")
    if not panels:
        return note_figure("no trained jobs in this sweep")
    jobs = trained(data)
    lows = [s.low for g in config_groups(jobs) if (s := g.final_acc)]
    floor = accuracy_floor(lows, quantile=0)
    lrs = sorted({j.lr for j in jobs})
    ticks = {"tickvals": lrs, "ticktext": [f"{lr:g}" for lr in lrs]} if len(lrs) <= 8 else {}
    panels.axis_titles(
        "learning rate (log scale)", "final validation accuracy", type="log", **ticks
    )
    for model, loss in panels.cells:
        panels.layout[f"yaxis{panels.suffix(model, loss)}"]["range"] = [floor - 0.01, 1.0]
    panels.baseline_lines(data)
    traces, in_legend = [], set()
    for model, loss in panels.cells:
        suffix = panels.suffix(model, loss)
        for trace in panel_traces([j for j in jobs if (j.model, j.loss) == (model, loss)], floor):
            trace.update(xaxis=f"x{suffix}", yaxis=f"y{suffix}")
            trace["showlegend"] = trace["legendgroup"] not in in_legend
            in_legend.add(trace["legendgroup"])
            traces.append(trace)
    return panels.figure(traces)


def panel_traces(jobs: list[JobResult], floor: float) -> list[dict]:
    shapes: dict[str, list[JobResult]] = {}
    for job in jobs:
        shapes.setdefault(job.spec.shape_key(), []).append(job)
    traces = [shape_trace(i, members) for i, members in enumerate(shapes.values())]
    diverged = Counter(j.lr for j in jobs if j.status == "diverged")
    if diverged:
        traces.append(
            go.Scatter(
                x=list(diverged),
                y=[floor] * len(diverged),
                mode="markers+text",
                marker={"symbol": "x", "size": 10, "color": DIVERGED_COLOR},
                text=[str(n) if n > 1 else "" for n in diverged.values()],
                textposition="top center",
                name="diverged",
                legendgroup="diverged",
                customdata=list(diverged.values()),
                hovertemplate="lr %{x:g}: %{customdata} diverged<extra></extra>",
            ).to_plotly_json()
        )
    return traces


def shape_trace(i: int, members: list[JobResult]) -> dict:
    """One line over the lrs for jobs of one shape (model, hidden, batch, ...)."""
    groups = sorted(config_groups(members), key=lambda g: g.first.lr)
    points = [(g.first.lr, s) for g in groups if (s := g.final_acc) is not None]
    first = members[0]
    name = f"{first.spec.shape_label()} batch={first.spec.batch_size}"
    return go.Scatter(
        x=[lr for lr, _ in points],
        y=[s.mean for _, s in points],
        error_y={
            "type": "data",
            "symmetric": False,
            "array": [s.high - s.mean for _, s in points],
            "arrayminus": [s.mean - s.low for _, s in points],
        },
        mode="lines+markers",
        line={"color": FAMILY_COLORS[first.model], "dash": DASHES[i % len(DASHES)]},
        marker={"symbol": SYMBOLS[i % len(SYMBOLS)], "size": 7},
        name=name,
        legendgroup=name,
        hovertemplate="lr %{x:g}: %{y:.4f}<extra>%{fullData.name}</extra>",
    ).to_plotly_json()
