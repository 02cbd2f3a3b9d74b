"""The seeds grid and its ASHA twin (examples/seeds.toml, examples/seeds-asha.toml), planned
as `mnistgrid submit` plans them and written through the store as workers write them, each
stack epoch by epoch with the sweep's stopping rule deciding in the store. The curves are
synthetic (no training): smooth, set by model, loss and lr, the same in both sweeps; two jobs
diverge (a NaN training loss and an infinite validation loss, an infinite training loss and a
NaN validation loss).
"""

from __future__ import annotations

import math
from pathlib import Path

from db.records import EpochRow, EpochWrite, StopCheck
from db.store import Store
from mnistgrid.settings import Settings
from mnistgrid.spec import JobSpec
from orchestrator.grid import load_grid
from orchestrator.submit import plan_sweep

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
WORKER = "twins:1"
LOSSES = ("mnist_loss", "softmax_mse", "cross_entropy")
# (model, loss, lr) -> the epoch it diverges at, and its (train, valid) losses there
DIVERGING = {
    ("mlp", "mnist_loss", 3.0): (5, (math.nan, math.inf)),
    ("linear", "softmax_mse", 3.0): (2, (math.inf, math.nan)),
}


def curve(spec: JobSpec, epoch: int) -> EpochRow:
    """A learning curve that rises to a plateau set by model, loss and lr."""
    if spec.model == "baseline":
        acc = 0.6689 if spec.distance == "mae" else 0.8203
        per_digit = tuple(round(acc + 0.01 * (d - 4.5), 4) for d in range(spec.data.n_classes))
        return EpochRow(1, None, None, acc, per_digit, 0.5)
    plateau = {"linear": 0.915, "mlp": 0.95}[spec.model] - 0.02 * (2 - LOSSES.index(spec.loss))
    plateau -= 0.03 * abs(math.log10(spec.lr))
    acc = plateau - (plateau - 0.3) * math.exp(-epoch * spec.lr**0.5 / 4)
    acc = round(acc + 0.001 * math.sin(epoch * spec.lr), 6)
    per_digit = tuple(
        round(min(1.0, acc + 0.004 * (d - 4.5)), 6) for d in range(spec.data.n_classes)
    )
    loss = round((1 - acc) * 1.5, 6)
    seconds = 0.2 if spec.model == "linear" else 0.45
    return EpochRow(epoch, loss, loss * 1.1, acc, per_digit, seconds)


def write_sweep(store: Store, grid_file: Path) -> int:
    """The grid's sweep, its jobs trained to their end or stopped by its rule."""
    grid = load_grid(grid_file)
    jobs = plan_sweep(grid, Settings())
    spec = grid.spec
    sweep_id = store.create_sweep(
        grid.name, spec.model_dump(mode="json"), grid.hash(), jobs
    ).sweep_id
    infos = store.sweep_jobs(sweep_id)
    stacks: dict[str, list[int]] = {}
    for info in infos:
        stacks.setdefault(info.group_key or f"alone-{info.job_id}", []).append(info.job_id)
    specs = {info.job_id: JobSpec.model_validate(info.params) for info in infos}
    stop = StopCheck(sweep_id, spec.stop, spec.train.epochs) if spec.stop.active else None
    for members in stacks.values():
        train_stack(store, members, specs, stop)
    return sweep_id


def train_stack(
    store: Store, members: list[int], specs: dict[int, JobSpec], stop: StopCheck | None
) -> None:
    store.claim_jobs(members, WORKER, lease_seconds=600)
    alive = list(members)
    epochs = 1 if specs[members[0]].model == "baseline" else specs[members[0]].epochs
    for epoch in range(1, epochs + 1):
        writes = [write(job_id, specs[job_id], epoch) for job_id in alive]
        done = store.record_epochs(WORKER, writes, stop=stop)
        ended = set(done.diverged) | set(done.stopped)
        alive = [job_id for job_id in alive if job_id not in ended]
    for job_id in alive:
        store.finish_job(job_id, "succeeded", worker=WORKER)


def write(job_id: int, spec: JobSpec, epoch: int) -> EpochWrite:
    row = curve(spec, epoch)
    at, losses = DIVERGING.get((spec.model, spec.loss, spec.lr), (0, None))
    if epoch == at and losses is not None:
        per_digit = (0.098,) * len(row.per_class_acc)
        row = EpochRow(epoch, losses[0], losses[1], 0.098, per_digit, row.seconds)
        return EpochWrite(job_id, row, None, diverged=True)
    return EpochWrite(job_id, row, b"checkpoint")


# Their ids in a store that held no sweep before: the `twins_url` fixture's (conftest.py).
TWIN_IDS = (1, 2)


def write_twins(store: Store) -> tuple[int, int]:
    """The sweeps `seeds` and `seeds-asha`; returns their ids."""
    return (
        write_sweep(store, EXAMPLES / "seeds.toml"),
        write_sweep(store, EXAMPLES / "seeds-asha.toml"),
    )
