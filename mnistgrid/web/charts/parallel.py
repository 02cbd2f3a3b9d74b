"""Parallel coordinates: each trained job's hyperparameters against its final accuracy, one
line per job coloured by that accuracy; drag along an axis to pick a range."""

from __future__ import annotations

import math

from plotly import graph_objects as go

from mnistgrid.report.gather import JobResult, SweepData
from mnistgrid.report.palette import accuracy_floor
from mnistgrid.web.charts.style import Figure, as_json, base_layout, note_figure, trained


def parallel_figure(data: SweepData) -> Figure:
    jobs = [j for j in trained(data) if j.final_acc is not None]
    if not jobs:
        return note_figure("no trained job has a final accuracy yet")
    accs = [j.final_acc for j in jobs]
    floor = accuracy_floor(accs, quantile=0)
    dimensions = [
        category("model", [j.spec.shape_label() for j in jobs]),
        category("loss", [j.loss or "" for j in jobs]),
        lr_dimension(jobs),
        *[
            category(name, [str(value(j)) for j in jobs])
            for name, value in (("batch", lambda j: j.spec.batch_size), ("seed", lambda j: j.seed))
            if len({value(j) for j in jobs}) > 1
        ],
        {"label": "final accuracy", "values": accs, "range": [floor, 1.0]},
    ]
    line = {
        "color": accs,
        "colorscale": "Viridis",
        "cmin": floor,
        "cmax": max(accs),
        "showscale": True,
        "colorbar": {"title": {"text": "final acc"}, "x": 1.04},
    }
    fig = go.Figure(go.Parcoords(line=line, dimensions=dimensions))
    # Room on the left for the names of the first axis' ticks, on the right for the colour bar.
    fig.update_layout(base_layout(380, margin={"l": 110, "r": 90, "t": 60, "b": 30}))
    return as_json(fig)


def category(label: str, values: list[str]) -> dict[str, object]:
    """An axis of names: plotly's parallel coordinates take numbers, with names as ticks."""
    names = sorted(set(values))
    return {
        "label": label,
        "values": [names.index(v) for v in values],
        "tickvals": list(range(len(names))),
        "ticktext": names,
    }


def lr_dimension(jobs: list[JobResult]) -> dict[str, object]:
    """The learning rate on a log axis (log10 values, ticks labelled with the lrs)."""
    lrs = sorted({j.lr for j in jobs})
    return {
        "label": "lr (log)",
        "values": [math.log10(j.lr) for j in jobs],
        "tickvals": [math.log10(lr) for lr in lrs],
        "ticktext": [f"{lr:g}" for lr in lrs],
    }
