"""Sweeps compared: each trained family's best learning curve of each sweep overlaid, a panel
per family, and the parallel coordinates of every trained job of every sweep, coloured by sweep."""

from __future__ import annotations

import math

from plotly import graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from db.records import EpochRow
from mnistgrid.report.palette import FAMILY_COLORS
from mnistgrid.results.compare import Comparison
from mnistgrid.results.records import JobRecord
from mnistgrid.web.charts.parallel import category
from mnistgrid.web.charts.style import Figure, as_json, base_layout, note_figure

# One colour per sweep, in the order they are compared (colour-blind-safe first).
SWEEP_COLORS = (*qualitative.Dark2, *qualitative.Set1)


def sweep_colors(comparison: Comparison) -> list[str]:
    return [SWEEP_COLORS[i % len(SWEEP_COLORS)] for i in range(len(comparison.sweeps))]


def best_curves_figure(comparison: Comparison, epochs: dict[int, list[EpochRow]]) -> Figure:
    """A panel per trained family: the validation accuracy per epoch of each sweep's best job
    in it. (A baseline has one epoch: the table holds it.)"""
    families = [
        row
        for row in comparison.families
        if not row.family.startswith("baseline") and any(row.bests)
    ]
    if not families:
        return note_figure("no trained job of these sweeps has an accuracy yet")
    colors = sweep_colors(comparison)
    fig = make_subplots(
        rows=1,
        cols=len(families),
        subplot_titles=[row.family for row in families],
        horizontal_spacing=0.06,
    )
    for col, row in enumerate(families, start=1):
        for i, best in enumerate(row.bests):
            if best is None:
                continue
            rows = [r for r in epochs.get(best.job.job_id, []) if r.valid_acc is not None]
            name = comparison.sweeps[i].name
            fig.add_scatter(
                x=[r.epoch for r in rows],
                y=[r.valid_acc for r in rows],
                mode="lines+markers" if len(rows) < 3 else "lines",
                line={"color": colors[i], "width": 2},
                marker={"size": 8},
                name=name,
                legendgroup=name,
                showlegend=col == 1,
                customdata=[f"#{best.job.job_id} {best.job.config}"] * len(rows),
                hovertemplate=name + ": %{customdata}<br>epoch %{x}: %{y:.4f}<extra></extra>",
                row=1,
                col=col,
            )
        fig.update_xaxes(title_text="epoch", row=1, col=col)
    fig.update_yaxes(title_text="validation accuracy", row=1, col=1)
    for annotation, row in zip(fig.layout.annotations, families, strict=True):
        annotation.font = {"color": FAMILY_COLORS.get(row.family, "#333"), "size": 13}
    fig.update_layout(base_layout(340, hovermode="closest", legend={"title": {"text": "sweep"}}))
    return as_json(fig)


def parallel_figure(comparison: Comparison) -> Figure:
    """Every trained job with a final accuracy, a line each, coloured by its sweep."""
    jobs: list[tuple[int, JobRecord]] = [
        (i, job)
        for i, totals in enumerate(comparison.sweeps)
        for job in totals.jobs
        if job.model != "baseline" and job.final_acc is not None and job.lr is not None
    ]
    if not jobs:
        return note_figure("no trained job of these sweeps has a final accuracy yet")
    names = [totals.name for totals in comparison.sweeps]
    colors = sweep_colors(comparison)
    n = len(names)
    # A stepped colour scale: sweep i is the band of its index.
    scale = [[edge, colors[i]] for i in range(n) for edge in (i / n, (i + 1) / n)]
    lrs = sorted({job.lr for _, job in jobs})
    accs = [job.final_acc for _, job in jobs]
    dimensions = [
        {
            "label": "sweep",
            "values": [i for i, _ in jobs],
            "tickvals": list(range(n)),
            "ticktext": names,
            "range": [-0.5, n - 0.5],
        },
        category("model", [shape(job) for _, job in jobs]),
        category("loss", [job.loss or "" for _, job in jobs]),
        {
            "label": "lr (log)",
            "values": [math.log10(job.lr) for _, job in jobs],
            "tickvals": [math.log10(lr) for lr in lrs],
            "ticktext": [f"{lr:g}" for lr in lrs],
        },
        *[
            category(label, [str(getattr(job, name)) for _, job in jobs])
            for label, name in (("batch", "batch_size"), ("seed", "seed"))
            if len({getattr(job, name) for _, job in jobs}) > 1
        ],
        {"label": "epochs trained", "values": [job.epochs_trained for _, job in jobs]},
        {"label": "final accuracy", "values": accs, "range": [max(0.0, min(accs)), 1.0]},
    ]
    line = {
        "color": [i + 0.5 for i, _ in jobs],
        "colorscale": scale,
        "cmin": 0,
        "cmax": n,
        "showscale": False,
    }
    fig = go.Figure(go.Parcoords(line=line, dimensions=dimensions))
    fig.update_layout(base_layout(400, margin={"l": 110, "r": 60, "t": 60, "b": 30}))
    return as_json(fig)


def shape(job: JobRecord) -> str:
    return f"mlp{job.hidden}-{job.activation}" if job.model == "mlp" else job.model
