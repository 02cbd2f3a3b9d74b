"""A stack shared with idle workers against a stack kept whole: the same sweeps on two workers,
with MNISTGRID_SHARE_STACKS=false and =true, alternately, in one run.

    MNISTGRID_DATA_DIR=../shared/data/mnist python benchmarks/bench_sharing.py

The sweeps: linear models with cross-entropy on all ten digits, 10 epochs, batch 256, in stacks
of 16 (`MNISTGRID_GROUP_SIZE`): one stack (16 lrs), where one worker would train alone, and
three stacks (48 lrs), where the third would. Each is `mnistgrid submit --wait` on a real Redis
and two `mnistgrid worker` processes of one torch thread each, into one SQLite file, the workers
warmed by a one-job sweep. Prints each sweep's wall time (the command to its report), its
stack-epochs (the rows of one stack's epoch share their epoch and `seconds`) and the ratio of
the wall times. Results: docs/benchmarks.md, section "Sharing a stack with idle workers".
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_stopping import run_grid, start_workers, stop_workers  # noqa: E402
from db.store import Store  # noqa: E402

GRID = """
name = "{name}"
[train]
epochs = {epochs}
[grid]
model = "linear"
loss = "cross_entropy"
lr = {lrs}
batch_size = 256
"""
CASES = {"one stack": 16, "three stacks": 48}
WAYS = {"kept whole": "false", "shared": "true"}


def grid(name: str, lrs: int, epochs: int) -> str:
    spaced = [float(f"{lr:.3g}") for lr in np.geomspace(0.05, 5.0, lrs)]
    return GRID.format(name=name, lrs=spaced, epochs=epochs)


def stack_epochs(store: Store, name: str) -> int:
    epochs = store.sweep_epochs(store.get_sweep(name).sweep_id)
    return len({(row.epoch, row.seconds) for rows in epochs.values() for row in rows})


def run_way(
    way: str, round_: int, env: dict[str, str], folder: Path, epochs: int
) -> dict[str, float]:
    """Each case's wall time with the workers started this way."""
    env = {**env, "MNISTGRID_SHARE_STACKS": WAYS[way]}
    workers = start_workers(env, folder)
    try:
        run_grid(grid(f"warm-{way}-{round_}", 1, 1), f"warm-{way}-{round_}", env, folder)
        return {
            case: run_grid(
                grid(f"{case}-{way}-{round_}", lrs, epochs), f"{case}-{way}-{round_}", env, folder
            )
            for case, lrs in CASES.items()
        }
    finally:
        stop_workers(workers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--broker-url", default="redis://127.0.0.1:6379/11")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2, help="each way this many times")
    args = parser.parse_args()
    redis.Redis.from_url(args.broker_url).flushdb()
    walls: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        env = {
            **os.environ,
            "MNISTGRID_DATABASE_URL": f"sqlite:///{folder / 'share.db'}",
            "MNISTGRID_BROKER_URL": args.broker_url,
            "MNISTGRID_REPORTS_DIR": str(folder / "reports"),
            "MNISTGRID_TORCH_THREADS": "1",
            "MNISTGRID_GROUP_SIZE": "16",
        }
        for round_ in range(args.rounds):
            for way in WAYS:
                for case, wall in run_way(way, round_, env, folder, args.epochs).items():
                    walls.setdefault((case, way), []).append(wall)
        with Store(env["MNISTGRID_DATABASE_URL"]) as store:
            stacks = {(case, way): stack_epochs(store, f"{case}-{way}-0") for case, way in walls}
    redis.Redis.from_url(args.broker_url).flushdb()
    print(f"linear x cross-entropy, {args.epochs} epochs, stacks of 16, 2 workers x 1 thread")
    print("sweep          way          wall s (each round)      stack-epochs  faster")
    for case, way in walls:
        best = min(walls[(case, way)])
        faster = min(walls[(case, "kept whole")]) / best
        rounds = " ".join(f"{w:6.1f}" for w in walls[(case, way)])
        print(f"{case:<14} {way:<12} {rounds:<24} {stacks[(case, way)]:>12}  {faster:5.2f}x")


if __name__ == "__main__":
    main()
