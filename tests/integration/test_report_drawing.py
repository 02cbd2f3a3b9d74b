"""The report's figures drawn side by side in processes of their own: the same PNGs as drawn in
process, a failure in a drawing process fails the report, a prefork worker's child (a
daemonic process) may draw so too, a figure may use torch after its parent trained, a
killed worker leaves no drawing process behind, and the drawing processes' collector leaves
their parent's objects alone.

    python -m pytest tests/integration/test_report_drawing.py
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import signal
import time
from pathlib import Path

import billiard
import pytest
import torch

from db.store import Store
from mnistgrid.report import drawing
from mnistgrid.report.drawing import FigureInputs, draw_figures
from mnistgrid.report.gather import gather
from mnistgrid.report.summary import family_bests, loss_bests
from mnistgrid.report.write import write_report
from tests.integration.webtools import write_sweep

pytestmark = pytest.mark.integration


@pytest.fixture
def store(tmp_path: Path):
    with Store(f"sqlite:///{tmp_path / 'store.db'}") as opened:
        yield opened


def figure_inputs(store: Store, name: str) -> FigureInputs:
    data = gather(store, write_sweep(store, name).sweep_id)
    return FigureInputs(data, family_bests(data), loss_bests(data), [])


def record_pids(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """Every figure leaves the id of the process that drew it in `folder` (the drawing
    processes are forked, so they draw with these patched drawers too)."""
    for name, draw in list(drawing.DRAWERS.items()):

        def drawn_here(inputs: FigureInputs, name: str = name, draw=draw):
            (folder / f"{name}.pid").write_text(str(os.getpid()))
            return draw(inputs)

        monkeypatch.setitem(drawing.DRAWERS, name, drawn_here)


def pids(folder: Path) -> set[int]:
    return {int(p.read_text()) for p in folder.glob("*.pid")}


def test_figures_drawn_side_by_side_are_those_drawn_in_process(store, tmp_path, monkeypatch):
    inputs = figure_inputs(store, "twice")
    alone, side_by_side = tmp_path / "alone", tmp_path / "side"
    for folder in (alone, side_by_side):
        folder.mkdir()
    record_pids(monkeypatch, alone)
    in_process = draw_figures(inputs, alone, processes=1)
    assert pids(alone) == {os.getpid()}
    monkeypatch.undo()
    record_pids(monkeypatch, side_by_side)
    forked = draw_figures(inputs, side_by_side, processes=2)

    assert list(forked) == list(in_process) == drawing.figure_names(inputs)
    assert len(in_process) >= 5
    for file in in_process.values():
        assert (side_by_side / file).read_bytes() == (alone / file).read_bytes(), file
    assert os.getpid() not in pids(side_by_side) and len(pids(side_by_side)) == 2


def test_a_figure_that_fails_in_its_process_fails_the_report(store, tmp_path, monkeypatch):
    sweep = write_sweep(store, "broken figure")
    reports = tmp_path / "reports"
    paths = write_report(store, sweep.sweep_id, reports)
    before = paths.html.read_text()

    def broken(_: FigureInputs):
        raise ValueError("the cost figure broke")

    monkeypatch.setitem(drawing.DRAWERS, "cost", broken)
    with pytest.raises(ValueError, match="the cost figure broke"):
        write_report(store, sweep.sweep_id, reports, processes=2)
    assert paths.html.read_text() == before


def draw_in_daemon(inputs: FigureInputs, folder: Path) -> None:
    assert billiard.current_process().daemon
    draw_figures(inputs, folder, processes=2)


def test_a_daemonic_process_draws_side_by_side(store, tmp_path, monkeypatch):
    """A prefork worker's child, where the worker writes reports, is a daemonic billiard
    process: multiprocessing would refuse it children."""
    inputs = figure_inputs(store, "daemon")
    record_pids(monkeypatch, tmp_path)
    child = billiard.get_context("fork").Process(
        target=draw_in_daemon, args=(inputs, tmp_path), daemon=True
    )
    child.start()
    child.join(120)
    assert child.exitcode == 0
    assert {f.stem for f in tmp_path.glob("*.png")} == set(drawing.figure_names(inputs))
    assert len(pids(tmp_path)) == 2 and child.pid not in pids(tmp_path)


def draw_with_a_slow_figure(inputs: FigureInputs, folder: Path) -> None:
    """A report's writer whose cost figure takes a minute: killed meanwhile, in the test. Each
    drawing process leaves its id in `folder`: `<pid>.drawer`, and `<pid>.slow` for the slow."""
    for name, draw in list(drawing.DRAWERS.items()):

        def marked(figure_inputs: FigureInputs, name: str = name, draw=draw):
            (folder / f"{os.getpid()}.drawer").write_text("")
            if name == "cost":
                (folder / f"{os.getpid()}.slow").write_text("")
                time.sleep(60)
            return draw(figure_inputs)

        drawing.DRAWERS[name] = marked
    draw_figures(inputs, folder, processes=2)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"  # a zombie has exited; its reaper has not looked yet


def test_a_writer_killed_while_drawing_leaves_no_drawing_process(store, tmp_path):
    inputs = figure_inputs(store, "killed")
    writer = multiprocessing.get_context("fork").Process(
        target=draw_with_a_slow_figure, args=(inputs, tmp_path)
    )
    writer.start()
    deadline = time.monotonic() + 60
    while not list(tmp_path.glob("*.slow")) and time.monotonic() < deadline:
        time.sleep(0.05)
    drawers = {int(marker.stem) for marker in tmp_path.glob("*.drawer")}
    try:
        assert list(tmp_path.glob("*.slow")) and writer.pid not in drawers
        os.kill(writer.pid, signal.SIGKILL)
        writer.join(10)
        deadline = time.monotonic() + 10
        while any(map(alive, drawers)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(map(alive, drawers)), "a drawing process outlived its writer"
    finally:
        for pid in filter(alive, drawers):  # a failed test leaves nothing holding its pipes
            os.kill(pid, signal.SIGKILL)


def draw_after_training(inputs: FigureInputs, folder: Path) -> None:
    """A worker's child that trained (torch's threads running) then writes a report one of
    whose figures uses torch."""
    torch.set_num_threads(2)
    weights = torch.randn(784, 320)
    for _ in range(20):
        torch.randn(2048, 784) @ weights
    draw = drawing.DRAWERS["cost"]

    def with_torch(figure_inputs: FigureInputs):
        assert (torch.randn(2048, 784) @ weights).shape == (2048, 320)
        return draw(figure_inputs)

    drawing.DRAWERS["cost"] = with_torch
    draw_figures(inputs, folder, processes=2)


def test_a_figure_may_use_torch_after_its_writer_trained(store, tmp_path):
    inputs = figure_inputs(store, "torch")
    writer = multiprocessing.get_context("fork").Process(
        target=draw_after_training, args=(inputs, tmp_path)
    )
    writer.start()
    writer.join(60)
    if writer.exitcode is None:  # its drawing process waits on threads the fork left behind
        writer.kill()  # ...which then exits with it
        writer.join(10)
    assert writer.exitcode == 0
    assert (tmp_path / "cost.png").exists()


def test_drawing_processes_leave_their_parents_objects_to_it(store, tmp_path, monkeypatch):
    """Frozen at the fork, the parent's objects are not walked by a drawing process's collector
    (which would copy every page it touches); the parent collects its own again afterwards."""
    inputs = figure_inputs(store, "frozen")
    gc.unfreeze()  # whatever ran in this process before
    parent_objects = len(gc.get_objects())
    draw = drawing.DRAWERS["cost"]

    def counting(figure_inputs: FigureInputs):
        (tmp_path / "frozen").write_text(str(gc.get_freeze_count()))
        return draw(figure_inputs)

    monkeypatch.setitem(drawing.DRAWERS, "cost", counting)
    draw_figures(inputs, tmp_path, processes=2)
    assert int((tmp_path / "frozen").read_text()) > 0.9 * parent_objects
    assert gc.get_freeze_count() == 0
