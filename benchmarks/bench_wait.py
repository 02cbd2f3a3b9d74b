"""What a waiting `mnistgrid submit --wait` costs the sweep it waits on, in one run.

    MNISTGRID_DATA_DIR=../shared/data/mnist python -m benchmarks.bench_wait
    ... --against ../wt-before      # also another checkout's CLI waiting (its own imports)

One `mnistgrid worker` (2 torch threads), warmed by a one-job sweep, trains the grid of
benchmarks/bench_sweep.py (32 lrs x 4 epochs of a linear model, one stack) again and again,
the ways taking turns: `submit --wait` of this checkout, of `--against`'s, and `submit` alone,
whose sweep's end this benchmark reads once a second. For each way it prints the CLI's CPU
seconds and the training span (the first claim to the last job's end), against `submit`
alone: on a machine of two cores, whatever the waiting CLI does, it does on the cores training.
Uses Redis database 12 and a temporary folder.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.bench_sweep import EPOCHS, GRID, LRS, training_span, warm_worker
from db.store import Store

HERE = Path(__file__).resolve().parents[1]
# How often this benchmark reads the end of a sweep submitted without --wait (seconds).
OUTSIDE_POLL = 1.0


def cli(env: dict[str, str], checkout: Path, *args: str) -> float:
    """Run the CLI of `checkout`; returns its CPU seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        [sys.executable, "-m", "mnistgrid.cli", *args],
        env=dict(env, PYTHONPATH=str(checkout)),
        cwd=checkout,  # `python -m` imports from its working folder first
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def sweep(
    env: dict[str, str], folder: Path, name: str, way: str, checkout: Path
) -> tuple[float, float]:
    """One sweep: the CLI's CPU seconds and the training span."""
    grid = folder / f"{name}.toml"
    grid.write_text(GRID.format(name=name, epochs=EPOCHS, gradient="", lrs=LRS))
    store = Store(env["MNISTGRID_DATABASE_URL"])
    if way == "submit alone":
        cpu = cli(env, checkout, "submit", str(grid))
        while store.get_sweep(name).report_status != "written":
            time.sleep(OUTSIDE_POLL)
    else:
        cpu = cli(env, checkout, "submit", str(grid), "--wait")
    jobs = store.sweep_jobs(store.get_sweep(name).sweep_id)
    first, last = training_span(jobs)
    return cpu, (last - first).total_seconds()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", type=Path, help="another checkout's CLI, waiting too")
    parser.add_argument("--rounds", type=int, default=8, help="sweeps of each way")
    args = parser.parse_args()
    ways = {"submit --wait": HERE, "submit alone": HERE}
    if args.against is not None:
        ways[f"submit --wait ({args.against.name})"] = args.against.resolve()
    results: dict[str, list[tuple[float, float]]] = {way: [] for way in ways}
    with tempfile.TemporaryDirectory() as tmp, warm_worker(Path(tmp)) as env:
        for i in range(args.rounds):
            # Each way first in turn: a drifting machine favours none of them.
            order = list(ways)[i % len(ways) :] + list(ways)[: i % len(ways)]
            for n, way in enumerate(order):
                results[way].append(sweep(env, Path(tmp), f"r{i}-{n}", way, ways[way]))
    report(results, args.rounds)


def report(results: dict[str, list[tuple[float, float]]], rounds: int) -> None:
    alone = statistics.median(span for _, span in results["submit alone"])
    print(f"{len(LRS)} lrs x {EPOCHS} epochs, one stack, 1 worker x 2 threads, {rounds} rounds")
    print(f"{'way':<34} {'CLI cpu s':>9} {'span med':>9} {'span best':>9} {'vs alone':>8}")
    for way, runs in results.items():
        spans = [span for _, span in runs]
        cpu = statistics.median(c for c, _ in runs)
        median = statistics.median(spans)
        print(f"{way:<34} {cpu:>9.2f} {median:>9.2f} {min(spans):>9.2f} {median / alone:>8.2f}")
    print("spans in the order run:")
    for way, runs in results.items():
        print(f"  {way:<32} " + " ".join(f"{span:.2f}" for _, span in runs))


if __name__ == "__main__":
    main()
