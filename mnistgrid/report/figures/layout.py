"""The figures' layout: margins in inches, set by the fonts, not measured from every tick.

Matplotlib's layout engines measure each axes' ticks and labels twice and make savefig draw
the whole figure once more before printing it: 40% of a report's drawing time
(docs/benchmarks.md, "Report"). The report's figures are few and regular (a grid of panels,
titles above, tick labels and axis labels below and left, a legend or colour scale to the
right or a legend below), and their fonts are fixed in points. So the room each decoration
needs is known from its font alone, and only the texts whose length is the data's (a legend,
a title, the headline's family names) are measured, one text each.
tests/integration/test_report_layout.py holds every figure to it: no text outside its picture
or over another, no legend over a panel.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import matplotlib as mpl
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg
from matplotlib.colorbar import Colorbar
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.legend import Legend

# Inches between the picture's edge and what is drawn, and between neighbours.
EDGE = 0.08
GAP = 0.12
# The widest tick label of an accuracy axis, measured in the tick font.
ACCURACY_TICKS = ("0.975",)
# A colour scale's bar, and its tick labels and label beside it (inches).
SCALE_BAR = 0.15
SCALE_TEXT = "0.975"


@dataclass(frozen=True)
class Margins:
    """Inches around the panels, between rows of them, and past their right edge."""

    left: float
    right: float
    top: float
    bottom: float
    rows: float
    overhang: float


@dataclass
class Frame:
    """Where a figure's panels go: the room the axes' own decorations need (from the fonts),
    plus whatever the figure adds around them (a suptitle, a legend or a colour scale right,
    a legend below), measured when `apply` places everything."""

    fig: Figure
    # The y tick labels the panels draw, or one as wide as the widest.
    y_ticks: tuple[str, ...] = ACCURACY_TICKS
    right_side: list[Legend | Colorbar] = field(default_factory=list)
    below: Legend | None = None

    def __post_init__(self) -> None:
        # Savefig prints through this canvas; measuring on it needs no draw.
        self.canvas = FigureCanvasAgg(self.fig)

    def legend_right(self, owner: Figure | Axes, *args: object, **kwargs: object) -> Legend:
        """A legend beside the panels, its top at theirs (`owner.legend(...)`)."""
        legend = owner.legend(*args, loc="upper left", borderaxespad=0, **kwargs)
        self.right_side.append(legend)
        return legend

    def legend_below(self, *args: object, **kwargs: object) -> Legend:
        """A figure legend centred under the panels."""
        self.below = self.fig.legend(*args, loc="lower center", borderaxespad=0, **kwargs)
        return self.below

    def scale_right(self, mappable: object, **kwargs: object) -> Colorbar:
        """A colour scale beside the panels, as tall as they are."""
        bar = self.fig.colorbar(mappable, cax=self.fig.add_axes((0, 0, 0.01, 0.01)), **kwargs)
        self.right_side.append(bar)
        return bar

    def apply(self) -> Figure:
        """Place the panels, the titles, legends and scales; returns the figure."""
        renderer = self.canvas.get_renderer()
        panels = [ax for ax in self.fig.axes if ax.get_subplotspec() is not None]
        sides = [_width(renderer, item, self.fig.dpi) for item in self.right_side]
        margins = self._margins(renderer, panels, sides)
        width, height = self.fig.get_size_inches()
        rows, cols = panels[0].get_subplotspec().get_gridspec().get_geometry()
        panel_width = (width - margins.left - margins.right - (cols - 1) * GAP) / cols
        panel_height = (height - margins.top - margins.bottom - (rows - 1) * margins.rows) / rows
        self.fig.subplots_adjust(
            left=margins.left / width,
            right=1 - margins.right / width,
            bottom=margins.bottom / height,
            top=1 - margins.top / height,
            wspace=GAP / panel_width,
            hspace=margins.rows / panel_height,
        )
        self._place_sides(sides, width - margins.right + margins.overhang, margins)
        if self.below is not None:
            self.below.set_bbox_to_anchor((0.5, EDGE / height), self.fig.transFigure)
        return self.fig

    def _margins(self, renderer: RendererAgg, panels: list[Axes], sides: list[float]) -> Margins:
        under_row = _below_panels(renderer, panels)
        upper = [ax for ax in panels if not ax.get_subplotspec().is_last_row()]
        # Shared x ticks are labelled under the last row only: the rows above need no room.
        between = _below_panels(renderer, upper) if any(map(_labelled_below, upper)) else 0.0
        title = max(_title_height(renderer, ax) for ax in panels)
        # The last x tick label sticks out past the panels by half its width.
        overhang = max(GAP, _text_width(renderer, ACCURACY_TICKS[0], "xtick.labelsize") / 2)
        below = 0.0
        if self.below is not None:
            below = self.below.get_window_extent(renderer).height / self.fig.dpi + GAP
        return Margins(
            left=EDGE + _left_of_panels(renderer, panels, self.y_ticks),
            right=EDGE + overhang + sum(sides) + GAP * max(len(sides) - 1, 0),
            top=EDGE + title + self._suptitle(renderer),
            bottom=EDGE + under_row + below,
            rows=between + title + GAP,
            overhang=overhang,
        )

    def _suptitle(self, renderer: RendererAgg) -> float:
        """Put the suptitle at the top; returns the room it takes (inches)."""
        suptitle = self.fig._suptitle
        if suptitle is None or not suptitle.get_text():
            return 0.0
        suptitle.set_y(1 - EDGE / self.fig.get_size_inches()[1])
        return suptitle.get_window_extent(renderer).height / self.fig.dpi + GAP

    def _place_sides(self, sides: list[float], x: float, margins: Margins) -> None:
        """Legends and scales side by side, left to right, from `x` (inches)."""
        width, height = self.fig.get_size_inches()
        bottom, top = margins.bottom / height, 1 - margins.top / height
        for item, item_width in zip(self.right_side, sides, strict=True):
            if isinstance(item, Colorbar):
                item.ax.set_position((x / width, bottom, SCALE_BAR / width, top - bottom))
            else:
                item.set_bbox_to_anchor((x / width, top), self.fig.transFigure)
            x += item_width + GAP


def _width(renderer: RendererAgg, item: Legend | Colorbar, dpi: float) -> float:
    """Width of a legend, or of a scale with its labels (inches)."""
    if isinstance(item, Colorbar):
        labels = [t.get_text() for t in item.ax.get_yticklabels()] + [SCALE_TEXT]
        widest = max(_text_width(renderer, t, "ytick.labelsize") for t in labels)
        return SCALE_BAR + _tick_room() + widest + _label_room(bool(item.ax.get_ylabel()))
    return item.get_window_extent(renderer).width / dpi


def _left_of_panels(renderer: RendererAgg, panels: list[Axes], y_ticks: tuple[str, ...]) -> float:
    """Room left of the first column: its y tick labels and y label."""
    widest = max(_text_width(renderer, t, "ytick.labelsize") for t in y_ticks)
    return _tick_room() + widest + _label_room(any(ax.get_ylabel() for ax in panels))


def _below_panels(renderer: RendererAgg, panels: list[Axes]) -> float:
    """Room under a row: its x tick labels and x label."""
    return (
        _tick_room()
        + _text_height(renderer, "0", "xtick.labelsize")
        + _label_room(any(ax.get_xlabel() for ax in panels))
    )


def _labelled_below(ax: Axes) -> bool:
    """Whether the panel labels its x ticks, or its x axis, under it."""
    return bool(ax.xaxis.get_tick_params(which="major")["labelbottom"] or ax.get_xlabel())


def _title_height(renderer: RendererAgg, ax: Axes) -> float:
    title = ax.title.get_text()
    if not title:
        return 0.0
    pad = mpl.rcParams["axes.titlepad"] / 72
    return ax.title.get_window_extent(renderer).height / ax.figure.dpi + pad


def _tick_room() -> float:
    """A tick and its label's pad (inches)."""
    return (mpl.rcParams["ytick.major.size"] + mpl.rcParams["ytick.major.pad"]) / 72


def _label_room(labelled: bool) -> float:
    """An axis label and its pad (inches); nothing without one."""
    if not labelled:
        return 0.0
    size = FontProperties(size=mpl.rcParams["axes.labelsize"]).get_size_in_points()
    return (size * 1.25 + mpl.rcParams["axes.labelpad"]) / 72


def _text_width(renderer: RendererAgg, text: str, font: str) -> float:
    return _text_box(renderer, text, font)[0]


def _text_height(renderer: RendererAgg, text: str, font: str) -> float:
    return _text_box(renderer, text, font)[1]


def _text_box(renderer: RendererAgg, text: str, font: str) -> tuple[float, float]:
    """A one-line text's width and height (with descent) in inches, in an rcParams font."""
    props = FontProperties(size=mpl.rcParams[font])
    width, height, _ = renderer.get_text_width_height_descent(text, props, ismath=False)
    return width / renderer.dpi, height * 1.25 / renderer.dpi
