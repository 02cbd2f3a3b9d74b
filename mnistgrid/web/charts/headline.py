"""Headline: each family's best accuracy, its range over seeds, and the source posts' figure,
as the report draws it (mnistgrid/report/figures/headline.py)."""

from __future__ import annotations

from plotly import graph_objects as go

from mnistgrid.report.palette import FAMILY_COLORS
from mnistgrid.report.summary import FamilyBest
from mnistgrid.web.charts.style import Figure, as_json, base_layout, note_figure


def headline_figure(bests: list[FamilyBest]) -> Figure:
    if not bests:
        return note_figure("no job has a validation accuracy yet")
    families = [b.family for b in bests]
    colors = [FAMILY_COLORS[b.family] for b in bests]
    fig = go.Figure(layout=base_layout(60 * len(bests) + 110, hovermode="closest"))
    fig.add_scatter(
        x=[b.seeds.mean for b in bests],
        y=families,
        mode="markers",
        marker={"size": 1, "color": colors},
        error_x={
            "type": "data",
            "symmetric": False,
            "array": [b.seeds.high - b.seeds.mean for b in bests],
            "arrayminus": [b.seeds.mean - b.seeds.low for b in bests],
            "thickness": 2,
            "width": 6,
        },
        name="range over seeds (that configuration)",
        hovertemplate="mean over seeds %{x:.4f}<extra></extra>",
    )
    fig.add_scatter(
        x=[b.job.best_acc for b in bests],
        y=families,
        mode="markers+text",
        marker={"size": 13, "color": colors},
        text=[f"{b.job.best_acc:.4f}" for b in bests],
        textposition="top center",
        name="best job of the sweep",
        customdata=[b.job.label for b in bests],
        hovertemplate="%{customdata}<br>best %{x:.4f}<extra></extra>",
    )
    posts = [b for b in bests if b.reference is not None]
    if posts:
        fig.add_scatter(
            x=[b.reference for b in posts],
            y=[b.family for b in posts],
            mode="markers",
            marker={"symbol": "diamond-open", "size": 12, "color": "black"},
            name="source post",
            customdata=[b.reference_text for b in posts],
            hovertemplate="the posts: %{customdata}<extra></extra>",
        )
    mean_class = [b for b in bests if b.family.startswith("baseline") and b.mean_class_acc]
    if mean_class:
        # The posts quote the baselines as mean per-class accuracy: show that one too.
        fig.add_scatter(
            x=[b.mean_class_acc for b in mean_class],
            y=[b.family for b in mean_class],
            mode="markers",
            marker={"symbol": "line-ns-open", "size": 16, "line": {"width": 2}, "color": "black"},
            name="its mean per-class accuracy (baselines)",
            hovertemplate="mean per-class %{x:.4f}<extra></extra>",
        )
    values = [b.seeds.low for b in bests] + [b.reference or 1.0 for b in bests]
    fig.update_xaxes(
        title_text="best validation accuracy", range=[max(0.0, min(values) - 0.05), 1.0]
    )
    fig.update_yaxes(categoryorder="array", categoryarray=families[::-1])
    fig.update_layout(legend={"orientation": "h", "y": -0.35})
    return as_json(fig)
