"""Listed learning rates against sampled ones at the same budget: 8 lrs of a grid trained to the
end, and 32 Sobol draws over the same range under synchronous successive halving.

    MNISTGRID_DATA_DIR=../shared/data/mnist python benchmarks/bench_search.py

Linear and MLP (64 hidden, sigmoid), cross-entropy, lr from 0.03 to 8, 9 epochs, batch 256.
The grid: 8 lrs spaced evenly on a log scale, trained to the end (2 x 8 x 9 = 144 epochs). The
search: 32 scrambled Sobol points on the same log range per family, under `sha` (grace 1,
reduction 3: rungs at epochs 1 and 3), about the same budget (2 x (32 + 11 x 2 + 4 x 6) = 156
epochs). Both through the real queue (`mnistgrid submit --wait`, two `mnistgrid worker`
processes of one torch thread each, real Redis, one SQLite file). Prints for each the epochs
trained, the wall time, and the best accuracy each family found with its lr.
Results: docs/benchmarks.md, section "Search beyond the grid".
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_stopping import (  # noqa: E402
    queue_env,
    run_grid,
    start_workers,
    stop_workers,
)
from db.store import Store  # noqa: E402

COMMON = """
[train]
epochs = 9
[grid]
model = ["linear", "mlp"]
loss = "cross_entropy"
hidden = 64
batch_size = 256
"""
LISTED = 'name = "listed"\n' + COMMON + "lr = [0.03, 0.067, 0.15, 0.33, 0.74, 1.6, 3.6, 8.0]\n"
SAMPLED = (
    'name = "sampled"\n[stop]\nrule = "sha"\ngrace = 1\nreduction = 3\n'
    '[search]\nmethod = "sobol"\nsamples = 32\nseed = 0\n'
    + COMMON
    + "lr = { log_uniform = [0.03, 8.0] }\n"
)


def best_found(store: Store, name: str) -> dict[str, tuple[float, float]]:
    """Per family: the best validation accuracy any job reached, and that job's lr."""
    jobs = store.sweep_jobs(store.get_sweep(name).sweep_id)
    found = {}
    for model in ("linear", "mlp"):
        best = max((job for job in jobs if job.model == model), key=lambda j: j.best_acc or 0)
        found[model] = (best.best_acc or 0.0, best.lr or 0.0)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--broker-url", default="redis://127.0.0.1:6379/11")
    args = parser.parse_args()
    redis.Redis.from_url(args.broker_url).flushdb()
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        env = queue_env(folder, args.broker_url)
        workers = start_workers(env, folder)
        try:
            walls = {grid: run_grid(text, grid, env, folder) for grid, text in
                     (("listed", LISTED), ("sampled", SAMPLED))}  # fmt: skip
        finally:
            stop_workers(workers)
        with Store(env["MNISTGRID_DATABASE_URL"]) as store:
            rows = []
            for grid in ("listed", "sampled"):
                sweep_id = store.get_sweep(grid).sweep_id
                epochs = sum(len(r) for r in store.sweep_epochs(sweep_id).values())
                rows.append((grid, epochs, walls[grid], best_found(store, grid)))
    redis.Redis.from_url(args.broker_url).flushdb()
    print("grid      configs  epochs  wall s  linear best (lr)    mlp best (lr)")
    for grid, epochs, wall, best in rows:
        configs = 16 if grid == "listed" else 64
        cells = [f"{best[m][0]:.4f} ({best[m][1]:.3g})" for m in ("linear", "mlp")]
        print(f"{grid:<9} {configs:>7}  {epochs:>6}  {wall:>6.1f}  {cells[0]:<18}  {cells[1]}")


if __name__ == "__main__":
    main()
