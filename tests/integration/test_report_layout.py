"""Every report figure is laid out so that it reads: each text it draws lies inside the picture,
no two texts it draws cover each other, a figure's legend covers no panel, no two panels cover
each other, an axis of evenly spaced ticks has few of them, and panels that share an axis label
it once and stand as close as their titles allow. For the sweeps whose figures differ in shape:
the demo's (two models, three losses, a legend of lrs), one of seeds (bands), one stopped by
ASHA, one of 32 lrs (a colour scale), one of a single linear job, a 3-vs-7 pair, and the
confusion matrices of one family, of two and of three.

    python -m pytest tests/integration/test_report_layout.py

The sweeps are written through a real SQLite store with synthetic curves
(tests/integration/twins.py); every figure is drawn on matplotlib's Agg canvas as the report
saves it.
"""

from __future__ import annotations

from collections import Counter
from itertools import combinations
from pathlib import Path

import matplotlib.pyplot as plt
import pytest
from matplotlib.axes import Axes
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.ticker import MaxNLocator
from matplotlib.transforms import Bbox

from db.store import Store
from mnistgrid.report.confusion import Confusion
from mnistgrid.report.drawing import DRAWERS, FigureInputs, figure_names
from mnistgrid.report.figures.layout import GAP
from mnistgrid.report.figures.style import TICK_INTERVALS, save
from mnistgrid.report.gather import gather
from mnistgrid.report.summary import family_bests, loss_bests
from tests.integration.twins import EXAMPLES, write_sweep

pytestmark = pytest.mark.integration

# Pixels two boxes may share at their edges (anti-aliasing, rounding).
TOUCH = 1.0


def grid_file(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(f'name = "{name}"\n{body}\n')
    return path


def sweeps(tmp_path: Path) -> dict[str, Path]:
    lrs = [round(10 ** (-2 + 3 * i / 31), 6) for i in range(32)]
    pair = (EXAMPLES / "quick.toml").read_text().replace("[data]\n", "[data]\ndigits = [3, 7]\n")
    return {
        "quick": EXAMPLES / "quick.toml",
        "seeds": grid_file(
            tmp_path,
            "seeded",
            '[train]\nepochs = 4\n[grid]\nmodel = ["baseline", "linear", "mlp"]\n'
            'loss = ["softmax_mse", "cross_entropy"]\nlr = [0.3, 1.0]\nseed = [0, 1, 2]',
        ),
        "asha": EXAMPLES / "asha.toml",
        "lrs": grid_file(
            tmp_path,
            "lrs",
            f'[train]\nepochs = 3\n[grid]\nmodel = ["baseline", "linear"]\nlr = {lrs}',
        ),
        "one": grid_file(tmp_path, "one", '[grid]\nmodel = "linear"\nlr = 0.5'),
        "pair": grid_file(tmp_path, "pair", pair.replace('name = "quick"', "")),
    }


def confusion(classes: tuple[int, ...]) -> Confusion:
    n = len(classes)
    counts = tuple(
        tuple(900 + 3 * t if t == p else (t * 7 + p * 3) % 40 for p in range(n)) for t in range(n)
    )
    return Confusion(counts, classes, "synthetic")


@pytest.fixture(scope="module")
def figures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Figure]:
    """Every figure of every sweep above, drawn, by `sweep/figure`."""
    folder = tmp_path_factory.mktemp("layout")
    drawn: dict[str, Figure] = {}
    with Store(f"sqlite:///{folder / 'mnistgrid.db'}") as store:
        for sweep, path in sweeps(folder).items():
            data = gather(store, write_sweep(store, path))
            bests = family_bests(data)
            matrices = [(b.family, confusion(data.classes)) for b in bests]
            inputs = FigureInputs(data, bests, loss_bests(data), matrices)
            for name in figure_names(inputs):
                drawn[f"{sweep}/{name}"] = draw(DRAWERS[name](inputs), folder)
            if sweep == "quick":
                for n in (1, 2):
                    few = FigureInputs(data, bests, [], matrices[:n])
                    drawn[f"quick/confusion of {n}"] = draw(DRAWERS["confusion"](few), folder)
    assert len(drawn) > 40
    return drawn


def draw(fig: Figure, folder: Path) -> Figure:
    save(fig, folder / "figure.png")  # as the report saves it: Agg, and its ticks
    return fig


def drawn_texts(fig: Figure) -> list[tuple[str, Bbox]]:
    """The texts the figure drew, with their boxes in pixels: titles, labels, the tick labels
    in view, legends and annotations."""
    renderer = fig.canvas.get_renderer()
    hidden_ticks = set()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            shown = set(axis._update_ticks())  # the ticks a draw draws
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                if tick not in shown:
                    hidden_ticks |= {tick.label1, tick.label2}
    texts = []
    for text in fig.findobj(Text):
        if text in hidden_ticks or not text.get_visible() or not text.get_text().strip():
            continue
        if (axes := text.axes) is not None and not axes.get_visible():
            continue
        texts.append((text.get_text(), text.get_window_extent(renderer)))
    return texts


def overlap(a: Bbox, b: Bbox) -> bool:
    return min(a.x1, b.x1) - max(a.x0, b.x0) > TOUCH and min(a.y1, b.y1) - max(a.y0, b.y0) > TOUCH


def inside(box: Bbox, frame: Bbox) -> bool:
    return (
        box.x0 >= frame.x0 - TOUCH
        and box.y0 >= frame.y0 - TOUCH
        and box.x1 <= frame.x1 + TOUCH
        and box.y1 <= frame.y1 + TOUCH
    )


def test_every_text_lies_inside_its_picture(figures: dict[str, Figure]) -> None:
    outside = [
        f"{name}: {text!r}"
        for name, fig in figures.items()
        for text, box in drawn_texts(fig)
        if not inside(box, fig.bbox)
    ]
    assert not outside


def test_no_two_texts_cover_each_other(figures: dict[str, Figure]) -> None:
    covered = [
        f"{name}: {a!r} and {b!r}"
        for name, fig in figures.items()
        for (a, box_a), (b, box_b) in combinations(drawn_texts(fig), 2)
        if overlap(box_a, box_b)
    ]
    assert not covered


def test_a_figure_legend_covers_no_panel(figures: dict[str, Figure]) -> None:
    covered = [
        f"{name}: legend over {ax.get_title()!r}"
        for name, fig in figures.items()
        for legend in fig.legends
        for ax in fig.axes
        if ax.get_visible() and overlap(legend.get_window_extent(), ax.get_window_extent())
    ]
    assert not covered


def test_no_two_panels_cover_each_other(figures: dict[str, Figure]) -> None:
    covered = [
        f"{name}: {a.get_title()!r} and {b.get_title()!r}"
        for name, fig in figures.items()
        for a, b in combinations([ax for ax in fig.axes if ax.get_visible()], 2)
        if overlap(a.get_tightbbox(), b.get_window_extent())
        or overlap(a.get_window_extent(), b.get_tightbbox())
    ]
    assert not covered


def test_an_axis_of_evenly_spaced_ticks_has_few_of_them(figures: dict[str, Figure]) -> None:
    crowded = [
        f"{name}: {ax.get_title()!r} {axis.axis_name} {shown}"
        for name, fig in figures.items()
        for ax in fig.axes
        for axis in (ax.xaxis, ax.yaxis)
        if isinstance(axis.get_major_locator(), MaxNLocator)
        and (shown := len(axis._update_ticks())) > TICK_INTERVALS + 1
    ]
    assert not crowded


def test_every_count_of_a_confusion_matrix_reads_inside_its_cell(
    figures: dict[str, Figure],
) -> None:
    """The counts are glyph outlines, not texts: each lies inside its cell, is as tall as a
    small text (a wrong scale would make it a dot or a smear), and is white on a dark cell."""
    problems, checked = [], 0
    for name, fig in figures.items():
        if "confusion" not in name:
            continue
        for ax in fig.axes:
            if not ax.images or not ax.get_visible():
                continue
            (counts,) = [c for c in ax.collections if isinstance(c, PathCollection)]
            fractions = ax.images[0].get_array()
            n = len(fractions)
            assert len(counts.get_paths()) == n * n, name
            for path, offset, color in zip(
                counts.get_paths(), counts.get_offsets(), counts.get_facecolors(), strict=True
            ):
                p, t = offset
                box = path.get_extents(counts.get_transform()).translated(
                    *ax.transData.transform((p, t))
                )
                cell = Bbox([[p - 0.5, t + 0.5], [p + 0.5, t - 0.5]]).transformed(ax.transData)
                white = tuple(color[:3]) == (1.0, 1.0, 1.0)
                if not inside(box, cell) or not 5 <= box.height <= cell.height:
                    problems.append(f"{name}: the count at {(p, t)} spans {box}, cell {cell}")
                if white != (fractions[int(t), int(p)] > 0.5):
                    problems.append(f"{name}: the count at {(p, t)} does not read on its cell")
                checked += 1
    assert checked > 400
    assert not problems


def test_panels_that_share_an_axis_label_it_once_and_stand_close(
    figures: dict[str, Figure],
) -> None:
    """The curves and lr panels share their axes: the x axis is labelled under the last row
    only (ticks and name), the y axis left of the first column only, and a row stands under
    the one above with room for its title, not for labels that are not drawn."""
    problems, checked = [], Counter[str]()
    names = ("quick/curves", "quick/lr_sensitivity", "seeds/curves", "seeds/lr_sensitivity")
    for name in names:
        fig = figures[name]
        texts = {text for text, _ in drawn_texts(fig)}
        for ax in fig.axes:
            if (spec := ax.get_subplotspec()) is None:
                continue
            last, title = spec.is_last_row(), repr(ax.get_title())
            ticks = {t.get_text() for t in ax.get_xticklabels()} & texts
            if bool(ax.get_xlabel()) != last or bool(ticks) != last:
                problems.append(f"{name}: {title} x labelled {ax.get_xlabel()!r} {ticks}")
            if bool(ax.get_ylabel()) != spec.is_first_col():
                problems.append(f"{name}: {title} y labelled {ax.get_ylabel()!r}")
            if not last:
                below = panel_below(fig, ax)
                gap = ax.get_window_extent().y0 - below.get_window_extent().y1
                room = below.title.get_window_extent().height + points(
                    fig, plt.rcParams["axes.titlepad"] + GAP * 72
                )
                if gap > room + TOUCH:
                    problems.append(f"{name}: {gap:.0f} px under {title}, not {room:.0f}")
                checked[name] += 1
    assert set(checked) == set(names)  # each has a row above another
    assert not problems


def panel_below(fig: Figure, ax: Axes) -> Axes:
    spec = ax.get_subplotspec()
    (below,) = [
        b
        for b in fig.axes
        if (s := b.get_subplotspec()) is not None
        and s.rowspan.start == spec.rowspan.stop
        and s.colspan == spec.colspan
    ]
    return below


def points(fig: Figure, size: float) -> float:
    """Pixels of a length in points."""
    return size * fig.dpi / 72
