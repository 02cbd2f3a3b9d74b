"""What the queue costs, and what a second worker buys, in one run.

    MNISTGRID_DATA_DIR=../shared/data/mnist python -m benchmarks.bench_queue

For a 24-job grid (linear, 3 losses x 4 lrs x 2 seeds, unfused so each task is one job):
  1. the jobs trained one after another in a plain loop in this process (1 torch thread);
  2. the same grid through Redis with one `mnistgrid worker` process (1 thread);
  3. the same with two worker processes (1 thread each).
Then the time to submit a 1,000-job grid. Uses Redis database 13 and a temporary SQLite file.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import redis
import torch

from db.store import Store
from mnistgrid.core.training import train_jobs
from mnistgrid.data.datasets import load_task
from mnistgrid.queue.app import make_celery
from mnistgrid.settings import load_settings
from orchestrator.grid import expand, parse_grid
from orchestrator.submit import plan_sweep, submit_grid
from tests.integration.services import mnistgrid_env, run_cli, start_worker, stop_process

GRID = """
fuse = false
[train]
epochs = {epochs}
[grid]
model = "linear"
loss = ["mnist_loss", "softmax_mse", "cross_entropy"]
lr = [0.1, 0.3, 1.0, 3.0]
seed = [0, 1]
"""
BIG_GRID = """
[train]
epochs = 40
[grid]
model = ["linear", "mlp"]
loss = ["mnist_loss", "softmax_mse", "cross_entropy"]
lr = {lrs}
hidden = [32, 64]
seed = [0, 1, 2, 3]
"""
REDIS_URL = "redis://127.0.0.1:6379/13"


def plain_loop(epochs: int) -> float:
    torch.set_num_threads(1)
    settings = load_settings()
    specs = expand(parse_grid(GRID.format(epochs=epochs), "plain"), 1000)
    start = time.perf_counter()
    for spec in specs:
        data = load_task(settings.data_dir, settings.cache_dir, spec.data)
        train_jobs([spec], data)
    return time.perf_counter() - start


def through_queue(epochs: int, n_workers: int, folder: Path) -> float:
    redis.Redis.from_url(REDIS_URL).flushdb()
    db = folder / f"queue{n_workers}.db"
    env = mnistgrid_env(
        database_url=f"sqlite:///{db}",
        broker_url=REDIS_URL,
        data_dir=str(load_settings().data_dir),
        reports_dir=str(folder / "reports"),
    )
    grid = folder / f"grid{n_workers}.toml"
    grid.write_text(GRID.format(epochs=epochs))
    workers = [
        start_worker(env, f"bench{i}", folder / f"w{n_workers}-{i}.log") for i in range(n_workers)
    ]
    try:
        app = make_celery(load_settings().with_overrides(broker_url=REDIS_URL))
        deadline = time.monotonic() + 60
        while len(app.control.ping(timeout=0.5)) < n_workers and time.monotonic() < deadline:
            pass
        start = time.perf_counter()
        done = run_cli(env, "submit", str(grid), "--wait")
        elapsed = time.perf_counter() - start
        assert done.returncode == 0, done.stderr
        return elapsed
    finally:
        for worker in workers:
            stop_process(worker)


def submit_big(folder: Path) -> tuple[int, float]:
    lrs = [round(0.05 * i, 2) for i in range(1, 29)]  # 1,008 jobs
    grid = parse_grid(BIG_GRID.format(lrs=lrs), "big")
    settings = load_settings().with_overrides(
        database_url=f"sqlite:///{folder / 'big.db'}", broker_url=REDIS_URL
    )
    redis.Redis.from_url(REDIS_URL).flushdb()
    store = Store(settings.database_url)
    start = time.perf_counter()
    done = submit_grid(grid, plan_sweep(grid, settings), None, False, store, make_celery(settings))
    elapsed = time.perf_counter() - start
    redis.Redis.from_url(REDIS_URL).flushdb()
    return done.n_jobs, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        plain = plain_loop(args.epochs)
        one = through_queue(args.epochs, 1, folder)
        two = through_queue(args.epochs, 2, folder)
        n_jobs, submit_seconds = submit_big(folder)
    print(f"24 jobs x {args.epochs} epochs, 1 torch thread per process")
    print(f"plain loop, one process   {plain:7.2f} s")
    print(f"Redis, 1 worker           {one:7.2f} s   {one / plain:5.2f}x the plain loop")
    print(f"Redis, 2 workers          {two:7.2f} s   {one / two:5.2f}x faster than 1 worker")
    print(f"submit a {n_jobs}-job grid  {submit_seconds:7.2f} s")


if __name__ == "__main__":
    main()
