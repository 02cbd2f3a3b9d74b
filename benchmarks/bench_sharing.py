"""A stack shared with idle workers against a stack kept whole: the same sweeps on two workers,
with MNISTGRID_SHARE_STACKS=false and =true, alternately, in one run.

    MNISTGRID_DATA_DIR=../shared/data/mnist python benchmarks/bench_sharing.py

The sweeps: cross-entropy on all ten digits, 10 epochs, batch 256, in stacks of 16
(`MNISTGRID_GROUP_SIZE`): a linear stack (16 lrs), where one worker would train alone; three
linear stacks (48 lrs), where the third would; an MLP stack (64 hidden), whose members cost the
same in a stack of any size. Each is `mnistgrid submit --wait` on a real Redis and two
`mnistgrid worker` processes of one torch thread each, into one SQLite file, the workers warmed
by a one-job sweep. Prints, best of the rounds, the training (the sweep written to its last
job's end, from the store) and the wall time (the command to its report), each with its ratio
to the stack kept whole, and each round's stack-epochs.
Results: docs/benchmarks.md, section "Sharing a stack with idle workers".
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_stopping import (  # noqa: E402
    queue_env,
    run_grid,
    start_workers,
    stop_workers,
)
from db.store import Store  # noqa: E402

GRID = """
name = "{name}"
[train]
epochs = {epochs}
[grid]
model = "{model}"
loss = "cross_entropy"
lr = {lrs}
hidden = 64
batch_size = 256
"""
# Each case: the model, and how many lrs (16 a stack).
CASES = {"linear, one stack": ("linear", 16), "linear, 3 stacks": ("linear", 48),
         "mlp, one stack": ("mlp", 16)}  # fmt: skip
WAYS = {"kept whole": "false", "shared": "true"}


def grid(name: str, model: str, lrs: int, epochs: int) -> str:
    spaced = [float(f"{lr:.3g}") for lr in np.geomspace(0.05, 5.0, lrs)]
    return GRID.format(name=name, model=model, lrs=spaced, epochs=epochs)


def sweep_name(case: str, way: str, round_: int) -> str:
    return f"{case}-{way}-{round_}".replace(" ", "-").replace(",", "")


@dataclass(frozen=True)
class Times:
    wall: float  # `submit --wait`: the command to its report
    span: float  # the sweep written to its last job's end: the training
    stack_epochs: int  # the rows of one stack's epoch share their epoch and `seconds`


def times(store: Store, name: str, wall: float) -> Times:
    sweep = store.get_sweep(name)
    assert sweep.finished_at is not None
    epochs = store.sweep_epochs(sweep.sweep_id)
    stacks = {(row.epoch, row.seconds) for rows in epochs.values() for row in rows}
    return Times(wall, (sweep.finished_at - sweep.created_at).total_seconds(), len(stacks))


def run_way(way: str, round_: int, env: dict[str, str], folder: Path, epochs: int) -> dict:
    """Each case's times with the workers started this way."""
    env = {**env, "MNISTGRID_SHARE_STACKS": WAYS[way]}
    workers = start_workers(env, folder)
    try:
        warm = sweep_name("warm", way, round_)
        run_grid(grid(warm, "mlp", 1, 1), warm, env, folder)
        walls = {}
        for case, (model, lrs) in CASES.items():
            name = sweep_name(case, way, round_)
            walls[case] = run_grid(grid(name, model, lrs, epochs), name, env, folder)
    finally:
        stop_workers(workers)
    with Store(env["MNISTGRID_DATABASE_URL"]) as store:
        return {case: times(store, sweep_name(case, way, round_), w) for case, w in walls.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--broker-url", default="redis://127.0.0.1:6379/11")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3, help="each way this many times")
    args = parser.parse_args()
    redis.Redis.from_url(args.broker_url).flushdb()
    runs: dict[tuple[str, str], list[Times]] = {}
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        env = queue_env(folder, args.broker_url, GROUP_SIZE="16")
        for round_ in range(args.rounds):
            for way in WAYS:
                for case, took in run_way(way, round_, env, folder, args.epochs).items():
                    runs.setdefault((case, way), []).append(took)
    redis.Redis.from_url(args.broker_url).flushdb()
    print_table(runs, args.epochs, args.rounds)


def print_table(runs: dict[tuple[str, str], list[Times]], epochs: int, rounds: int) -> None:
    print(f"cross-entropy, {epochs} epochs, stacks of 16, 2 workers x 1 thread, best of {rounds}")
    print("sweep              way         training s  faster  wall s  faster  stack-epochs")
    for case, way in sorted(runs, key=lambda k: list(CASES).index(k[0])):
        span = min(t.span for t in runs[(case, way)])
        wall = min(t.wall for t in runs[(case, way)])
        whole = runs[(case, "kept whole")]
        stacks = "/".join(str(t.stack_epochs) for t in runs[(case, way)])
        print(
            f"{case:<18} {way:<11} {span:>10.1f}  {min(t.span for t in whole) / span:>5.2f}x  "
            f"{wall:>6.1f}  {min(t.wall for t in whole) / wall:>5.2f}x  {stacks:>12}"
        )


if __name__ == "__main__":
    main()
