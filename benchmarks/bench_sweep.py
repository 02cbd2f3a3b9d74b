"""A sweep end to end, against the posts' loop and an Optuna study of the same grid, in one run.

    MNISTGRID_DATA_DIR=../shared/data/mnist python -m benchmarks.bench_sweep
    ... --optuna      # also the grid as an Optuna study (pip install 'mnistgrid[bench]')

The grid: 32 learning rates of a linear model with cross-entropy, all ten digits, 4 epochs,
fused as one stack of 32. One `mnistgrid worker` (2 torch threads), warmed by a one-job sweep,
trains it twice through `mnistgrid submit --wait` on Redis and a SQLite file: with autograd
(`gradient = "autograd"`), and as the grid file leaves it (no `gradient`: a linear model's
default, the backward by hand). For each run it prints the configuration-epochs per second of
the training span (the first claim to the last job's end) and of the whole `submit --wait`
(typing it to its exit, the report written), each against the posts' loop measured in the same
run, and where the fixed cost went: the CLI until the sweep was written, the first claim, the
report, and `--wait` learning of it.
Uses Redis database 12 and a temporary folder.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import redis
import torch

from benchmarks.bench_core import posts_loop
from db.records import JobInfo
from db.store import Store
from mnistgrid.data.datasets import load_task
from mnistgrid.settings import load_settings
from mnistgrid.spec import DataSpec
from tests.integration.services import mnistgrid_env, run_cli, start_worker, stop_process

LRS = [round(10 ** (-2 + 3 * i / 31), 6) for i in range(32)]  # 0.01 to 10, log-spaced
EPOCHS = 4
GRID = """
name = "{name}"
[train]
epochs = {epochs}
{gradient}
[grid]
model = "linear"
loss = "cross_entropy"
lr = {lrs}
"""
REDIS_URL = "redis://127.0.0.1:6379/12"


@dataclass(frozen=True)
class SweepTimes:
    """Seconds of one `submit --wait`, from the CLI's start, split by the store's timestamps."""

    wall: float
    written: float  # the CLI's start-up, validation and the sweep's transaction
    first_claim: float  # ... then until a worker claimed the first job
    span: float  # the first claim to the last job's end
    report: float  # the sweep's end to its report written
    noticed: float  # the report written to the CLI's exit

    @property
    def fixed(self) -> float:
        return self.wall - self.span


def run_sweep(env: dict[str, str], folder: Path, name: str, gradient: str) -> SweepTimes:
    grid = folder / f"{name}.toml"
    line = "" if gradient == "default" else f'gradient = "{gradient}"'
    grid.write_text(GRID.format(name=name, epochs=EPOCHS, gradient=line, lrs=LRS))
    began = datetime.now(UTC)
    start = time.perf_counter()
    done = run_cli(env, "submit", str(grid), "--wait")
    wall = time.perf_counter() - start
    assert done.returncode == 0, done.stderr + done.stdout
    store = Store(env["MNISTGRID_DATABASE_URL"])
    sweep = store.get_sweep(name)
    jobs = store.sweep_jobs(sweep.sweep_id)
    took = {job.params["gradient"] for job in jobs}
    assert took == {"manual" if gradient == "default" else gradient}, took
    first, last = training_span(jobs)
    assert sweep.finished_at is not None and sweep.report_at is not None
    return SweepTimes(
        wall=wall,
        written=(sweep.created_at - began).total_seconds(),
        first_claim=(first - sweep.created_at).total_seconds(),
        span=(last - first).total_seconds(),
        report=(sweep.report_at - sweep.finished_at).total_seconds(),
        noticed=wall - (sweep.report_at - began).total_seconds(),
    )


def training_span(jobs: list[JobInfo]) -> tuple[datetime, datetime]:
    """The first claim of a sweep's jobs and the last job's end, from the store."""
    first = min(job.started_at for job in jobs if job.started_at)
    last = max(job.finished_at for job in jobs if job.finished_at)
    return first, last


@contextmanager
def warm_worker(folder: Path) -> Iterator[dict[str, str]]:
    """One `mnistgrid worker` (2 torch threads) on Redis and a SQLite file in `folder`, stacks
    of up to 32, warmed by a one-job sweep; yields the environment its CLI runs in."""
    redis.Redis.from_url(REDIS_URL).flushdb()
    env = mnistgrid_env(
        database_url=f"sqlite:///{folder / 'sweep.db'}",
        broker_url=REDIS_URL,
        data_dir=str(load_settings().data_dir),
        reports_dir=str(folder / "reports"),
        group_size="32",
    )
    worker = start_worker(env, "bench", folder / "worker.log", "--threads", "2")
    try:
        warm = folder / "warm.toml"
        warm.write_text('name = "warm"\n[train]\nepochs = 1\n[grid]\nmodel = "linear"\n')
        assert run_cli(env, "submit", str(warm), "--wait").returncode == 0
        yield env
    finally:
        stop_process(worker)
        redis.Redis.from_url(REDIS_URL).flushdb()


def through_queue(folder: Path) -> dict[str, SweepTimes]:
    with warm_worker(folder) as env:
        return {g: run_sweep(env, folder, f"lrs-{g}", g) for g in ("autograd", "default")}


def optuna_study(epochs: int) -> float:
    """The grid as an Optuna study: GridSampler over the lrs, each trial the posts' loop."""
    import optuna  # an optional extra: the benchmark runs without it

    data = load_task(load_settings().data_dir, load_settings().cache_dir, DataSpec())
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.GridSampler({"lr": LRS})
    study = optuna.create_study(direction="maximize", sampler=sampler)
    start = time.perf_counter()
    study.optimize(
        lambda trial: posts_loop(
            data, "linear", epochs, trial.suggest_float("lr", min(LRS), max(LRS))
        )[1],
        n_trials=len(LRS),
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--optuna", action="store_true", help="also run the grid as a study")
    args = parser.parse_args()
    torch.set_num_threads(2)
    data = load_task(load_settings().data_dir, load_settings().cache_dir, DataSpec())
    posts_seconds, _ = posts_loop(data, "linear", 2)
    posts_rate = 1 / posts_seconds
    with tempfile.TemporaryDirectory() as tmp:
        runs = through_queue(Path(tmp))
    n = len(LRS) * EPOCHS

    def row(label: str, seconds: float) -> None:
        rate = n / seconds
        print(f"{label:<28} {seconds:>8.2f} {rate:>9.2f} {rate / posts_rate:>6.2f}")

    print(
        f"{len(LRS)} lrs x {EPOCHS} epochs, linear, cross-entropy, one stack, 1 worker x 2 threads"
    )
    print(f"{'way':<28} {'seconds':>8} {'cfg-ep/s':>9} {'ratio':>6}")
    row("posts loop", posts_seconds * n)
    for gradient, t in runs.items():
        row(f"{gradient}: training span", t.span)
        row(f"{gradient}: submit --wait", t.wall)
    if args.optuna:
        row("optuna study, posts loop", optuna_study(EPOCHS))
    print()
    heads = ("total", "written", "claimed", "report", "noticed")
    print(f"{'fixed cost':<12} " + " ".join(f"{h:>8}" for h in heads))
    for gradient, t in runs.items():
        parts = (t.fixed, t.written, t.first_claim, t.report, t.noticed)
        print(f"{gradient:<12} " + " ".join(f"{x:>8.2f}" for x in parts))


if __name__ == "__main__":
    main()
