"""The report's figures, drawn side by side: one process per usable core, a figure each.

Matplotlib draws a figure on one core and holds the GIL throughout, so threads would not help;
the figures share nothing, so forked processes draw them in about the time of the slowest few
(docs/benchmarks.md, "Report"). A figure that fails in a child raises here, as it would in
process. The processes are billiard's, Celery's fork of multiprocessing: a prefork worker's
child, where reports are written, is daemonic, and multiprocessing lets no daemonic process
start children. The figures draw from plain values; should one ever run torch, it runs on one
thread there: in a child forked from a process that trained, torch's OpenMP threads are gone,
and an op that waited on them would wait for ever.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import billiard
import torch
from matplotlib.figure import Figure

from mnistgrid.core.machine import usable_cores
from mnistgrid.report.confusion import Confusion
from mnistgrid.report.figures.cost import plot_cost
from mnistgrid.report.figures.curves import plot_curves
from mnistgrid.report.figures.digits import plot_confusions, plot_per_digit
from mnistgrid.report.figures.headline import plot_headline
from mnistgrid.report.figures.losses import plot_losses
from mnistgrid.report.figures.lr_sensitivity import plot_lr_sensitivity
from mnistgrid.report.figures.style import save
from mnistgrid.report.gather import SweepData
from mnistgrid.report.summary import FamilyBest, LossBest

# The report's order.
FIGURES = ("headline", "curves", "lr_sensitivity", "losses", "per_digit", "confusion", "cost")
# The order they are drawn in, costliest first (measured): no core is left with a big figure
# at the end.
COSTLIEST_FIRST = (
    "curves",
    "confusion",
    "lr_sensitivity",
    "cost",
    "per_digit",
    "headline",
    "losses",
)


@dataclass(frozen=True)
class FigureInputs:
    """Everything the figures are drawn from."""

    data: SweepData
    bests: list[FamilyBest]
    by_loss: list[LossBest]
    matrices: list[tuple[str, Confusion]]


DRAWERS: dict[str, Callable[[FigureInputs], Figure]] = {
    "headline": lambda i: plot_headline(i.bests),
    "curves": lambda i: plot_curves(i.data),
    "lr_sensitivity": lambda i: plot_lr_sensitivity(i.data),
    "losses": lambda i: plot_losses(i.data, i.by_loss),
    "per_digit": lambda i: plot_per_digit(i.data, i.bests),
    "confusion": lambda i: plot_confusions(i.matrices),
    "cost": lambda i: plot_cost(i.data),
}


def figure_names(inputs: FigureInputs) -> list[str]:
    """The figures this sweep has data for, in the report's order: a sweep of one lr has no
    sensitivity to it, and one of one model and loss no losses to compare."""
    missing = set()
    if not inputs.bests:
        missing |= {"headline", "per_digit"}
    if not inputs.matrices:
        missing.add("confusion")
    if len(inputs.data.lrs) < 2:
        missing.add("lr_sensitivity")
    if len(inputs.by_loss) < 2:
        missing.add("losses")
    return [name for name in FIGURES if name not in missing]


def draw_figure(name: str, inputs: FigureInputs, folder: Path) -> str:
    """Draw one figure into `folder`; returns the PNG's file name."""
    return save(DRAWERS[name](inputs), folder / f"{name}.png").name


def draw_figures(
    inputs: FigureInputs, folder: Path, processes: int | None = None
) -> dict[str, str]:
    """Figure name -> PNG file name, in the report's order. `processes`: how many draw at once
    (default: the usable cores; 1 draws in this process)."""
    names = figure_names(inputs)
    processes = min(len(names), processes or usable_cores())
    if processes < 2 or not can_fork():
        return {name: draw_figure(name, inputs, folder) for name in names}
    with (
        frozen_collector(),
        ProcessPoolExecutor(
            processes,
            mp_context=billiard.get_context("fork"),
            # Handed over by the fork itself: pickled, a big sweep's epochs cost more than drawing.
            initializer=_take_inputs,
            initargs=(inputs, folder, os.getpid()),
        ) as pool,
    ):
        futures = {
            name: pool.submit(_draw_taken, name)
            for name in sorted(names, key=COSTLIEST_FIRST.index)
        }
        return {name: futures[name].result() for name in names}


@contextmanager
def frozen_collector() -> Iterator[None]:
    """The parent's objects frozen while its drawing processes fork: a child's collector
    would otherwise walk them all, copying every page it touches (a sixth of a report's
    drawing time in a worker that trained; docs/benchmarks.md, "Report")."""
    gc.freeze()
    try:
        yield
    finally:
        # All of them, what the CLI froze at its start too: left frozen, a long-lived worker's
        # garbage cycles would outlive every report it writes.
        gc.unfreeze()


# How often a drawing process looks whether its parent is still there (seconds).
PARENT_POLL = 0.5
# In a drawing process: what its figures are drawn from, and where to.
_taken: tuple[FigureInputs, Path] | None = None


def _take_inputs(inputs: FigureInputs, folder: Path, parent: int) -> None:
    global _taken
    _taken = (inputs, folder)
    torch.set_num_threads(1)
    threading.Thread(target=_exit_with, args=(parent,), daemon=True).start()


def _exit_with(parent: int) -> None:
    """A drawing process outlives no report: once its parent is gone (a worker killed while it
    wrote a report), it would wait on the pool's queue for ever."""
    while os.getppid() == parent:
        time.sleep(PARENT_POLL)
    os._exit(1)


def _draw_taken(name: str) -> str:
    assert _taken is not None, "a drawing process starts with its inputs"
    return draw_figure(name, *_taken)


def can_fork() -> bool:
    """Fork only where it is safe: a platform that has it, and a process with no other thread
    (a thread holding a lock at the fork would leave the child waiting on it for ever)."""
    return "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1
