"""Early stopping against the full grid: one grid of the posts' kind run five times on two
workers, with no rule, the median rule, ASHA, synchronous successive halving and Hyperband.

    MNISTGRID_DATA_DIR=../shared/data/mnist python benchmarks/bench_stopping.py

The grid: linear and MLP x the three losses x 8 learning rates x 20 epochs (48 jobs, fused in
stacks of 8; `--lrs 6` for 6 learning rates). `--lrs 64 --losses cross_entropy` is a wider grid
of one loss: 64 learning rates spaced evenly on a log scale from 0.03 to 8 per family (128 jobs,
stacks of 16), where a rung's survivors fill whole stacks.
Each run is a real sweep: `mnistgrid submit --wait` on a real Redis and two `mnistgrid worker`
processes with one torch thread each, into one SQLite file, so that the reports of the stopping
runs find the full grid's sweep and compare their bests with it.
Prints epochs trained, wall time and each family's best accuracy, with the ratios to no rule,
and how full the stacks were: the stack-epochs trained (a stack's epoch rows share their epoch
and their `seconds`, the stack's time divided among its members) and members per stack-epoch;
"of fewer" is the wall time's ratio over the epochs' ratio, and "busy" the workers' training
time over their wall time (what is not busy is waiting: at rungs, for the queue, for the CLI).
`--rules sha,hyperband` runs those (and no rule, the reference) only.
Targets: ASHA trains at least 3x fewer epochs than no rule, with each family's best within
0.002 of no rule's (issue "Early stopping"); SHA at least 3x fewer, its wall time falling by at
least 80% of its epoch ratio, each family's best within 0.005 (issue "Search beyond the grid").
Results: docs/benchmarks.md, section "Early stopping".
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import redis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from db.store import Store  # noqa: E402

GRID = """
name = "{name}"
[train]
epochs = 20
{stop}
[grid]
model = ["linear", "mlp"]
loss = {losses}
lr = {lrs}
hidden = 64
batch_size = 256
"""
RULES = {
    "none": "",
    "median": '[stop]\nrule = "median"\ngrace = 3\nmin_jobs = 3',
    "asha": '[stop]\nrule = "asha"\ngrace = 1\nreduction = {reduction}',
    "sha": '[stop]\nrule = "sha"\ngrace = 1\nreduction = {reduction}',
    "hyperband": '[stop]\nrule = "hyperband"\ngrace = 1\nreduction = {reduction}',
}


LRS = {6: [0.1, 0.3, 1.0, 2.0, 3.0, 5.0], 8: [0.03, 0.1, 0.3, 1.0, 2.0, 3.0, 5.0, 8.0]}
LOSSES = ("mnist_loss", "softmax_mse", "cross_entropy")


def lr_list(count: int) -> list[float]:
    """The listed lrs for 6 and 8; otherwise `count` evenly spaced on a log scale, 0.03 to 8."""
    if count in LRS:
        return LRS[count]
    return [float(f"{lr:.3g}") for lr in np.geomspace(0.03, 8.0, count)]


def run_sweep(
    name: str, stop: str, lrs: int, losses: list[str], env: dict[str, str], folder: Path
) -> float:
    text = GRID.format(name=name, stop=stop, lrs=lr_list(lrs), losses=json.dumps(losses))
    return run_grid(text, name, env, folder)


def run_grid(text: str, name: str, env: dict[str, str], folder: Path) -> float:
    """`mnistgrid submit --wait` of the grid: its wall time, from the command to the report."""
    grid = folder / f"{name}.toml"
    grid.write_text(text)
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "mnistgrid.cli", "submit", str(grid), "--wait"],
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"sweep {name} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return time.perf_counter() - start


def summary(store: Store, name: str) -> dict[str, object]:
    sweep = store.get_sweep(name)
    jobs = store.sweep_jobs(sweep.sweep_id)
    epochs = store.sweep_epochs(sweep.sweep_id)
    best = {
        model: max(job.best_acc for job in jobs if job.model == model and job.best_acc)
        for model in ("linear", "mlp")
    }
    stack_epochs = {(row.epoch, row.seconds) for rows in epochs.values() for row in rows}
    return {
        "epochs": sum(len(rows) for rows in epochs.values()),
        "stack_epochs": len(stack_epochs),
        "stopped": sum(job.status == "stopped" for job in jobs),
        # Each row holds its stack's epoch time divided among the members: the sum is the
        # workers' training time.
        "train_seconds": sum(row.seconds for rows in epochs.values() for row in rows),
        "best": best,
    }


WORKERS = 2


def queue_env(folder: Path, broker_url: str, **settings: str) -> dict[str, str]:
    """This process's environment for the workers and the CLI: a SQLite store and the reports
    in `folder`, the broker, one torch thread per worker, and `settings` (`GROUP_SIZE="16"`)."""
    return {
        **os.environ,
        "MNISTGRID_DATABASE_URL": f"sqlite:///{folder / 'bench.db'}",
        "MNISTGRID_BROKER_URL": broker_url,
        "MNISTGRID_REPORTS_DIR": str(folder / "reports"),
        "MNISTGRID_TORCH_THREADS": "1",
        **{f"MNISTGRID_{name}": value for name, value in settings.items()},
    }


def start_workers(env: dict[str, str], folder: Path) -> list[subprocess.Popen]:
    argv = [sys.executable, "-m", "mnistgrid.cli", "worker", "-c", "1", "--threads", "1"]
    return [
        subprocess.Popen(
            [*argv, "--name", f"bench{i}@%h", "--loglevel", "warning"],
            env=env,
            stdout=(folder / f"worker{i}.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        for i in range(WORKERS)
    ]


def stop_workers(workers: list[subprocess.Popen]) -> None:
    for worker in workers:
        worker.terminate()
        worker.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--broker-url", default="redis://127.0.0.1:6379/11")
    parser.add_argument("--reduction", type=int, default=3, help="ASHA's reduction factor")
    parser.add_argument("--lrs", type=int, default=8, help="lrs per model and loss")
    parser.add_argument(
        "--losses", default=",".join(LOSSES), help="the losses, comma-separated (the posts' three)"
    )
    parser.add_argument(
        "--rules",
        default=",".join(RULES),
        help="the rules to run, comma-separated (no rule always runs: the others' reference)",
    )
    args = parser.parse_args()
    asked = args.rules.split(",")
    losses = args.losses.split(",")
    if set(losses) - set(LOSSES) or args.lrs < 2:
        parser.error(f"--losses: choose from {', '.join(LOSSES)}; --lrs: at least 2")
    if unknown := set(asked) - set(RULES):
        parser.error(
            f"--rules: unknown {', '.join(sorted(unknown))}; choose from {', '.join(RULES)}"
        )
    rules = {"none": "", **{rule: RULES[rule] for rule in asked}}
    redis.Redis.from_url(args.broker_url).flushdb()
    results, walls = {}, {}
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        env = queue_env(folder, args.broker_url)
        workers = start_workers(env, folder)
        try:
            for rule, stop in rules.items():
                stop = stop.format(reduction=args.reduction)
                walls[rule] = run_sweep(f"bench-{rule}", stop, args.lrs, losses, env, folder)
        finally:
            stop_workers(workers)
        with Store(env["MNISTGRID_DATABASE_URL"]) as store:
            results = {rule: summary(store, f"bench-{rule}") for rule in rules}
    redis.Redis.from_url(args.broker_url).flushdb()
    print_table(results, walls, 2 * len(losses) * args.lrs)


def print_table(results: dict[str, dict], walls: dict[str, float], jobs: int) -> None:
    full = results["none"]
    print(f"{jobs} jobs x 20 epochs ({jobs * 20} epochs), {WORKERS} workers x 1 torch thread")
    print(
        "rule       epochs  fewer  stopped  stack-epochs  members  wall s  faster  "
        "of fewer  busy  linear best (vs none)  mlp best (vs none)"
    )
    for rule, result in results.items():
        bests = [
            f"{result['best'][m]:.4f} ({result['best'][m] - full['best'][m]:+.4f})"
            for m in ("linear", "mlp")
        ]
        members = result["epochs"] / result["stack_epochs"]
        fewer = full["epochs"] / result["epochs"]
        faster = walls["none"] / walls[rule]
        busy = result["train_seconds"] / (WORKERS * walls[rule])
        print(
            f"{rule:<10} {result['epochs']:>6}  {fewer:>4.1f}x  "
            f"{result['stopped']:>7}  {result['stack_epochs']:>12}  {members:>7.1f}  "
            f"{walls[rule]:>6.1f}  {faster:>5.1f}x  {faster / fewer:>7.0%}  {busy:>4.0%}  "
            f"{bests[0]:>21}  {bests[1]:>18}"
        )


if __name__ == "__main__":
    main()
