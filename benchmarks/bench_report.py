"""How long `write_report` takes for a big sweep: 1,000 jobs x 40 epochs in a SQLite store,
its figures drawn in this process and side by side (one process per usable core).

    python benchmarks/bench_report.py --jobs 1000 --epochs 40
    python benchmarks/bench_report.py --jobs 100 --epochs 4     # the fixed cost's report

The numbers are synthetic (smooth learning curves with noise, a few diverged runs), written
through the Store like a worker writes them; only the report's speed is measured, not training.
Filling the store takes about a millisecond per epoch row; `--db FILE` keeps it for the next run.
"""

from __future__ import annotations

import argparse
import math
import random
import tempfile
import time
from pathlib import Path

from db.records import EpochRow
from db.store import Store
from mnistgrid.core.machine import usable_cores
from mnistgrid.errors import NotFound
from mnistgrid.report.write import write_report
from mnistgrid.spec import JobSpec
from orchestrator.plan import new_job

WORKER = "bench:0"
LOSSES = ("mnist_loss", "softmax_mse", "cross_entropy")
LRS = (0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0)


def grid_specs(n_jobs: int, epochs: int) -> list[JobSpec]:
    """Two baselines, then linear and mlp jobs over losses, lrs, hidden sizes and seeds."""
    specs = [JobSpec(model="baseline", distance=d, epochs=1) for d in ("mae", "mse")]
    seed = 0
    while len(specs) < n_jobs:
        for model, hidden in (("linear", 64), ("mlp", 32), ("mlp", 64), ("mlp", 128)):
            for loss in LOSSES:
                for lr in LRS:
                    spec = JobSpec(
                        model=model, loss=loss, lr=lr, hidden=hidden, seed=seed, epochs=epochs
                    )
                    if len(specs) < n_jobs:
                        specs.append(spec)
        seed += 1
    return specs


def synthetic_epochs(spec: JobSpec, rng: random.Random) -> tuple[list[EpochRow], bool]:
    """A learning curve that rises to a plateau set by model, loss and lr; the largest lrs of
    some runs diverge part-way (NaN loss, chance accuracy)."""
    if spec.model == "baseline":
        acc = 0.66 if spec.distance == "mae" else 0.82
        per_class = tuple(min(1.0, max(0.0, rng.gauss(acc, 0.1))) for _ in range(10))
        return [EpochRow(1, None, None, acc, per_class, 0.05)], False
    plateau = {"linear": 0.915, "mlp": 0.95}[spec.model] - 0.04 * LOSSES.index(spec.loss) / 2
    plateau -= 0.05 * abs(math.log10(spec.lr))
    diverge_at = rng.randint(3, spec.epochs) if spec.lr >= 30 and rng.random() < 0.5 else None
    rows = []
    for epoch in range(1, spec.epochs + 1):
        acc = plateau - (plateau - 0.3) * math.exp(-epoch * spec.lr**0.5 / 3)
        acc = min(0.999, max(0.0, acc + rng.gauss(0, 0.004)))
        loss = (1 - acc) * 2 + rng.random() * 0.01
        if epoch == diverge_at:
            rows.append(EpochRow(epoch, math.nan, math.inf, 0.098, (0.098,) * 10, 0.3))
            return rows, True
        per_class = tuple(min(1.0, max(0.0, rng.gauss(acc, 0.03))) for _ in range(10))
        rows.append(EpochRow(epoch, loss, loss * 1.05, acc, per_class, rng.uniform(0.2, 0.4)))
    return rows, False


def fill(store: Store, name: str, n_jobs: int, epochs: int) -> int:
    specs = grid_specs(n_jobs, epochs)
    jobs = [new_job(s) for s in specs]
    sweep_id = store.create_sweep(name, {"synthetic": True}, name, jobs).sweep_id
    infos = store.sweep_jobs(sweep_id)
    store.claim_jobs([j.job_id for j in infos], WORKER, lease_seconds=3600)
    rng = random.Random(0)
    for info in infos:
        rows, diverged = synthetic_epochs(JobSpec.model_validate(info.params), rng)
        for row in rows:
            store.record_epoch(info.job_id, WORKER, row)
        finish_synthetic(store, info.job_id, WORKER, diverged)
    return sweep_id


def finish_synthetic(store: Store, job_id: int, worker: str, diverged: bool) -> None:
    """End a job as its worker would after its epochs (the store sums them up)."""
    store.finish_job(job_id, "diverged" if diverged else "succeeded", worker=worker)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument(
        "--db",
        type=Path,
        default=None,
        help="SQLite file to fill, or reuse when it holds this sweep already",
    )
    parser.add_argument("--repeat", type=int, default=3, help="time the report this many times")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench_report_"))
    db = args.db or folder / "bench.db"
    store = Store(f"sqlite:///{db}")
    name = f"bench-{args.jobs}x{args.epochs}"
    try:
        sweep_id = store.get_sweep(name).sweep_id
        print(f"reusing sweep {name} in {db}")
    except NotFound:
        tick = time.perf_counter()
        sweep_id = fill(store, name, args.jobs, args.epochs)
        print(
            f"filled {db}: {args.jobs} jobs x {args.epochs} epochs "
            f"in {time.perf_counter() - tick:.1f} s"
        )
    cores = usable_cores()
    ways = {"in process": 1, f"side by side ({cores} processes)": cores}
    times: dict[str, list[float]] = {way: [] for way in ways}
    for _ in range(args.repeat):
        for way, processes in ways.items():
            tick = time.perf_counter()
            paths = write_report(store, sweep_id, folder / "reports", processes=processes)
            times[way].append(time.perf_counter() - tick)
    print(f"write_report, {args.jobs} jobs x {args.epochs} epochs, {args.repeat} runs each way")
    for way, seconds in times.items():
        best, median = min(seconds), sorted(seconds)[len(seconds) // 2]
        ratio = min(times["in process"]) / best
        print(f"  {way:<28} best {best:.2f} s  median {median:.2f} s  {ratio:.2f}x")
    print(f"-> {paths.html}")


if __name__ == "__main__":
    main()
