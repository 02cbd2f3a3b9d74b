"""What a new user tripped over in the report (a fresh clone's `make demo`, 2026-11-29): a table
of every job, not only a file name; the loss comparison's legend off the bars; the headline
saying when its runs are shorter than the posts'; and a word on `mnist_loss` over ten digits.
And since: 32 learning rates ran their legend off the learning curves (now a colour scale), and
a sweep of one lr or one loss drew figures that compared nothing.

    python -m pytest tests/integration/test_report_words.py

The sweep is the demo's grid (examples/quick.toml: 8 epochs), written through a real SQLite
store with synthetic curves (tests/integration/twins.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg

from db.store import Store
from mnistgrid.report.figures.curves import plot_curves
from mnistgrid.report.figures.losses import plot_losses
from mnistgrid.report.gather import gather
from mnistgrid.report.summary import loss_bests
from mnistgrid.report.write import write_report
from tests.integration.twins import EXAMPLES, write_sweep

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> tuple[Store, int, str]:
    folder = tmp_path_factory.mktemp("quick")
    store = Store(f"sqlite:///{folder / 'mnistgrid.db'}")
    sweep_id = write_sweep(store, EXAMPLES / "quick.toml")
    markdown = write_report(store, sweep_id, folder / "reports").markdown.read_text()
    yield store, sweep_id, markdown
    store.close()


def test_every_job_is_a_row_of_the_report(quick: tuple[Store, int, str]) -> None:
    store, sweep_id, markdown = quick
    section = markdown.split("## Every job")[1]
    rows = [line for line in section.splitlines() if line.startswith("| #")]
    jobs = store.sweep_jobs(sweep_id)
    assert [row.split(" | ")[0].strip("| ") for row in rows] == [f"#{j.job_id}" for j in jobs]
    assert "results.csv" in section


def test_the_headline_says_its_runs_are_shorter_than_the_posts(
    quick: tuple[Store, int, str],
) -> None:
    headline = quick[2].split("## Headline")[1].split("##")[0]
    assert "after 40 epochs" in headline and "linear 8, mlp 8" in headline


def test_mnist_loss_on_ten_digits_is_explained(quick: tuple[Store, int, str]) -> None:
    section = quick[2].split("## Loss comparison")[1].split("\n## ")[0]
    assert "`mnist_loss` is the posts' loss for two classes" in section
    assert "expected, not a fault" in section


def test_the_loss_legend_stays_off_the_bars(quick: tuple[Store, int, str]) -> None:
    store, sweep_id, _ = quick
    data = gather(store, sweep_id)
    fig = plot_losses(data, loss_bests(data))
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    (ax,) = fig.axes
    legend = ax.get_legend().get_window_extent(renderer)
    assert not legend.overlaps(ax.get_window_extent(renderer))
    assert fig.bbox.contains(legend.x1 - 1, legend.y0 + 1)  # and inside the picture


def test_a_ten_digit_note_is_not_said_of_a_pair(tmp_path: Path) -> None:
    """3 against 7 is the posts' own task for `mnist_loss`: no note there."""
    grid = tmp_path / "pair.toml"
    grid.write_text(
        (EXAMPLES / "quick.toml")
        .read_text()
        .replace('[data]\nvalid = "test"', '[data]\ndigits = [3, 7]\nvalid = "test"')
        .replace('name = "quick"', 'name = "pair"')
    )
    with Store(f"sqlite:///{tmp_path / 'mnistgrid.db'}") as store:
        sweep_id = write_sweep(store, grid)
        markdown = write_report(store, sweep_id, tmp_path / "reports").markdown.read_text()
    assert "`mnist_loss` is the posts' loss" not in markdown
    assert "after 40 epochs" not in markdown  # the posts' figures are for ten digits


def grid_of(tmp_path: Path, name: str, grid: str) -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(f'name = "{name}"\n[train]\nepochs = 3\n[grid]\n{grid}\n')
    return path


def test_many_learning_rates_are_a_colour_scale_inside_the_figure(tmp_path: Path) -> None:
    lrs = [round(10 ** (-2 + 3 * i / 31), 6) for i in range(32)]
    grid = grid_of(tmp_path, "lrs", f'model = ["baseline", "linear"]\nlr = {lrs}')
    with Store(f"sqlite:///{tmp_path / 'mnistgrid.db'}") as store:
        fig = plot_curves(gather(store, write_sweep(store, grid)))
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    (scale,) = [ax for ax in fig.axes if ax.get_ylabel() == "learning rate"]
    named = [label.get_text() for label in scale.get_yticklabels()]
    assert named[0] == "0.01" and named[-1] == "10" and 3 <= len(named) <= 8
    (legend,) = fig.legends
    assert [t.get_text()[:12] for t in legend.get_texts()] == ["baseline mae", "baseline mse"]
    for box in (scale.get_tightbbox(renderer), legend.get_window_extent(renderer)):
        assert fig.bbox.contains(box.x0, box.y0) and fig.bbox.contains(box.x1, box.y1)


def test_a_few_learning_rates_are_legend_lines(quick: tuple[Store, int, str]) -> None:
    store, sweep_id, _ = quick
    fig = plot_curves(gather(store, sweep_id))
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()][:2] == ["lr=0.3", "lr=1"]
    assert not [ax for ax in fig.axes if ax.get_ylabel() == "learning rate"]


def test_a_sweep_of_one_lr_and_one_loss_draws_no_comparison_of_them(tmp_path: Path) -> None:
    grid = grid_of(tmp_path, "one", 'model = "linear"\nloss = "cross_entropy"\nlr = 0.5')
    with Store(f"sqlite:///{tmp_path / 'mnistgrid.db'}") as store:
        paths = write_report(store, write_sweep(store, grid), tmp_path / "reports")
    drawn = {png.stem for png in paths.dir.glob("*.png")}
    assert "lr_sensitivity" not in drawn and "losses" not in drawn
    assert {"headline", "curves", "per_digit", "cost"} <= drawn
    markdown = paths.markdown.read_text()
    lr_section = markdown.split("## Learning-rate sensitivity")[1].split("\n## ")[0]
    assert "Every trained job of this sweep has the same learning rate (0.5)." in lr_section
    assert "| linear | cross_entropy |" in markdown.split("## Loss comparison")[1]
