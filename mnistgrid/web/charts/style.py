"""What every web figure shares: the look, the report's colours, and the model x loss grid.

The panel figures (learning curves, lr sensitivity) are assembled as plotly's JSON: plotly lays
out the grid (`make_subplots`) and checks each kind of trace once; checking every trace and
shape again as a `go.Figure` would cost most of a big sweep page's first render.
"""

from __future__ import annotations

from plotly import graph_objects as go
from plotly import io as pio
from plotly.colors import sample_colorscale
from plotly.subplots import make_subplots

from mnistgrid.report.gather import LOSS_ORDER, MODEL_ORDER, JobResult, SweepData
from mnistgrid.report.palette import FAMILY_COLORS, lr_position

FONT = {"family": "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", "size": 12}
# plotly.js knows no template names: every figure carries its template as JSON. It is put in
# as JSON after plotly has checked the figure, which would otherwise copy or check the
# template once per figure (up to half a second).
TEMPLATE = pio.templates["plotly_white"].to_plotly_json()
Figure = dict[str, object]


def base_layout(height: int, **more: object) -> dict[str, object]:
    return {
        "template": "none",
        "height": height,
        "font": FONT,
        "margin": {"l": 60, "r": 20, "t": 40, "b": 50},
        **more,
    }


def lr_colors(lrs: list[float]) -> dict[float, str]:
    """The report's colour for each learning rate (viridis by rank), as plotly writes it."""
    colors = sample_colorscale("Viridis", [lr_position(lr, lrs) for lr in lrs])
    return dict(zip(lrs, colors, strict=True))


def as_json(fig: go.Figure) -> Figure:
    """The figure as plotly.js takes it, with the look of every figure here."""
    figure = fig.to_plotly_json()
    figure["layout"]["template"] = TEMPLATE
    return figure


def note_figure(text: str, height: int = 160) -> Figure:
    """A figure that only says why there is nothing to draw yet."""
    fig = go.Figure(layout=base_layout(height))
    fig.add_annotation(text=text, showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5)
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return as_json(fig)


def trained(data: SweepData) -> list[JobResult]:
    return [job for job in data.jobs if job.model != "baseline"]


class Panels:
    """The report's grid of panels, models down and losses across, for the ones this sweep
    has; `layout` is its plotly layout as JSON."""

    def __init__(self, data: SweepData, height_per_row: int, **layout: object) -> None:
        jobs = trained(data)
        self.models = [m for m in MODEL_ORDER if any(j.model == m for j in jobs)]
        self.losses = [loss for loss in LOSS_ORDER if any(j.loss == loss for j in jobs)]
        self.layout: dict = {}
        if self.models:
            self.layout = self._grid(height_per_row, layout)

    def __bool__(self) -> bool:
        return bool(self.models)

    @property
    def cells(self) -> list[tuple[str, str]]:
        return [(model, loss) for model in self.models for loss in self.losses]

    def suffix(self, model: str, loss: str) -> str:
        """`""`, `"2"`, ...: the suffix plotly gives the axes of that panel (row-major)."""
        n = self.cells.index((model, loss)) + 1
        return "" if n == 1 else str(n)

    def _grid(self, height_per_row: int, more: dict[str, object]) -> dict:
        fig = make_subplots(
            rows=len(self.models),
            cols=len(self.losses),
            shared_xaxes=True,
            shared_yaxes=True,
            subplot_titles=[f"{model} · {loss}" for model, loss in self.cells],
            horizontal_spacing=0.04,
            vertical_spacing=0.14 if len(self.models) > 1 else 0.0,
        )
        layout = fig.to_plotly_json()["layout"]
        for annotation, (model, _) in zip(layout["annotations"], self.cells, strict=True):
            annotation["font"] = {"color": FAMILY_COLORS[model], "size": 13}
        layout.update(base_layout(height_per_row * len(self.models) + 90, **more))
        layout["template"] = TEMPLATE
        return layout

    def axis_titles(self, x_title: str, y_title: str, **x_axis: object) -> None:
        """Titles on the bottom row's x axes and the first column's y axes; every x axis shows
        its tick labels (sharing hides them above the last row) and gets `x_axis`."""
        for model, loss in self.cells:
            suffix = self.suffix(model, loss)
            axis = self.layout[f"xaxis{suffix}"]
            axis.update(showticklabels=True, **x_axis)
            if model == self.models[-1]:
                axis["title"] = {"text": x_title}
            if loss == self.losses[0]:
                self.layout[f"yaxis{suffix}"]["title"] = {"text": y_title}

    def baseline_lines(self, data: SweepData) -> None:
        """The baselines' best accuracy as dashed lines across every panel: the bar a trained
        model must clear (as in the report)."""
        shapes, notes = [], []
        for family, best in baseline_bests(data):
            line = {"color": FAMILY_COLORS[family], "dash": "dash", "width": 1.2}
            for model, loss in self.cells:
                s = self.suffix(model, loss)
                shapes.append(hline(best, f"x{s} domain", f"y{s}", line))
            notes.append(hline_note(family, best, "x domain", "y"))
        self.layout["shapes"] = shapes
        self.layout["annotations"] = [*self.layout["annotations"], *notes]

    def figure(self, traces: list[dict]) -> Figure:
        return {"data": traces, "layout": self.layout}


def baseline_bests(data: SweepData) -> list[tuple[str, float]]:
    bests = []
    for family in ("baseline mae", "baseline mse"):
        accs = [j.best_acc for j in data.of_family(family) if j.best_acc is not None]
        if accs:
            bests.append((family, max(accs)))
    return bests


def hline(y: float, xref: str, yref: str, line: dict[str, object]) -> dict[str, object]:
    return {"type": "line", "xref": xref, "x0": 0, "x1": 1, "yref": yref, "y0": y, "y1": y,
            "line": line, "layer": "below"}  # fmt: skip


def hline_note(family: str, y: float, xref: str, yref: str) -> dict[str, object]:
    return {
        "text": f"{family} {y:.3f}",
        "xref": xref,
        "x": 1,
        "xanchor": "right",
        "yref": yref,
        "y": y,
        "yanchor": "top",
        "showarrow": False,
        "font": {"color": FAMILY_COLORS[family], "size": 10},
    }


def add_baseline_lines(fig: go.Figure, data: SweepData) -> None:
    """The same lines on a one-panel figure."""
    for family, best in baseline_bests(data):
        line = {"color": FAMILY_COLORS[family], "dash": "dash", "width": 1.2}
        fig.add_shape(hline(best, "x domain", "y", line))
        fig.add_annotation(hline_note(family, best, "x domain", "y"))
