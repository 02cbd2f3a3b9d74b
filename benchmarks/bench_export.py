"""`mnistgrid export` of a big sweep: time and peak memory, streamed against all in memory.

    python benchmarks/bench_export.py                      # 10,000 jobs x 100 epochs, SQLite
    python benchmarks/bench_export.py --db /tmp/bench_export.db   # keep the filled store
    python benchmarks/bench_export.py --jobs 2000 --epochs 50     # a smaller one

The store gets two sweeps of synthetic curves (benchmarks/bench_report.py's, written through
`Store.record_epochs` a stack of jobs at a time, as workers write them): the big one, and one a
tenth of its size. Each export then runs as its own process, `python -m mnistgrid.cli export
...` as a user types it, and its peak memory is that process's maximum resident set
(`wait4`'s ru_maxrss): streamed, it should stay flat from the small sweep to the big one. The
comparison, in the same run: the same epochs read whole into a DataFrame and written with
pandas' `to_csv` (`Results.epochs_frame`), and a process that only imports what the export
imports (the floor under every figure).

Results: docs/benchmarks.md, section "Export". No test asserts a time.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_report import grid_specs, synthetic_epochs  # noqa: E402
from db.records import EpochWrite  # noqa: E402
from db.store import Store  # noqa: E402
from mnistgrid.errors import NotFound  # noqa: E402
from mnistgrid.spec import JobSpec  # noqa: E402
from orchestrator.plan import new_job  # noqa: E402

WORKER = "bench:0"
STACK = 500  # jobs written per transaction while filling


def fill(store: Store, name: str, n_jobs: int, epochs: int) -> int:
    """The sweep, every job trained to its end (or its divergence), a stack at a time."""
    specs = grid_specs(n_jobs, epochs)
    jobs = [new_job(s) for s in specs]
    sweep_id = store.create_sweep(name, {"synthetic": True}, name, jobs).sweep_id
    infos = store.sweep_jobs(sweep_id)
    rng = random.Random(0)
    for start in range(0, len(infos), STACK):
        stack = infos[start : start + STACK]
        store.claim_jobs([info.job_id for info in stack], WORKER, lease_seconds=3600)
        curves = {
            info.job_id: synthetic_epochs(JobSpec.model_validate(info.params), rng)
            for info in stack
        }
        for epoch in range(1, epochs + 1):
            writes = [
                EpochWrite(job_id, rows[epoch - 1], diverged=diverged and epoch == len(rows))
                for job_id, (rows, diverged) in curves.items()
                if epoch <= len(rows)
            ]
            if writes:
                store.record_epochs(WORKER, writes)
        for job_id, (_, diverged) in curves.items():
            if not diverged:
                store.finish_job(job_id, "succeeded", worker=WORKER)
    return sweep_id


def ensure(store: Store, n_jobs: int, epochs: int) -> str:
    name = f"export-{n_jobs}x{epochs}"
    try:
        store.get_sweep(name)
        print(f"reusing sweep {name}")
    except NotFound:
        tick = time.perf_counter()
        fill(store, name, n_jobs, epochs)
        print(f"filled sweep {name} in {time.perf_counter() - tick:.0f} s")
    return name


@dataclass(frozen=True)
class Run:
    seconds: float
    peak_mib: float
    size_mib: float
    rows: int


# Starts `argv` and prints its wall seconds and peak resident KiB. A process forked from this
# big one would count this one's pages as its own (ru_maxrss survives exec): a small launcher
# forks it instead.
LAUNCHER = """
import os, subprocess, sys, time
tick = time.perf_counter()
child = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
_, status, usage = os.wait4(child.pid, 0)
sys.stderr.write(child.stderr.read().decode())
print(time.perf_counter() - tick, usage.ru_maxrss, os.waitstatus_to_exitcode(status))
"""


def run(argv: list[str], env: dict[str, str], out: Path | None) -> Run:
    """Run `argv` as a process; its wall time, its peak resident memory, its output's size."""
    done = subprocess.run(
        [sys.executable, "-c", LAUNCHER, *argv], env=env, capture_output=True, text=True
    )
    seconds, kib, code = done.stdout.split()
    if int(code) != 0:
        raise SystemExit(f"failed: {' '.join(argv)}: {done.stderr.strip()}")
    size = out.stat().st_size / 2**20 if out is not None else 0.0
    return Run(float(seconds), int(kib) / 1024, size, written(done.stderr))


def written(message: str) -> int:
    """The rows `mnistgrid export` says it wrote (`3,850 epochs of sweep ...`), or 0."""
    first = message.split(" ", 1)[0].replace(",", "")
    return int(first) if first.isdigit() else 0


IN_MEMORY = """
import sys
from mnistgrid.results import Results
with Results(sys.argv[1]) as results:
    results.epochs_frame(sys.argv[2]).to_csv(sys.argv[3], index=False)
"""
# What each way imports, and nothing more: the floor under its figures.
FLOORS = (
    ("imports alone: csv, jsonl", "import mnistgrid.cli.commands.results_work"),
    ("imports alone: parquet", "import mnistgrid.cli.commands.results_work, pyarrow.parquet"),
    ("imports alone: pandas", "import mnistgrid.results.reader, pandas"),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--db", type=Path, default=None, help="SQLite file to fill or reuse")
    parser.add_argument("--database-url", default=None, help="another store (PostgreSQL)")
    parser.add_argument("--no-in-memory", action="store_true", help="skip the pandas way")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench_export_"))
    url = args.database_url or f"sqlite:///{args.db or folder / 'bench.db'}"
    with Store(url) as store:
        small = ensure(store, args.jobs // 10, args.epochs)
        big = ensure(store, args.jobs, args.epochs)
    env = {**os.environ, "MNISTGRID_DATABASE_URL": url}
    cli = [sys.executable, "-m", "mnistgrid.cli", "export"]
    print(f"\n{'what':<48} {'rows':>10} {'seconds':>8} {'peak MiB':>9} {'file MiB':>9}")
    for label, imports in FLOORS:
        floor = run([sys.executable, "-c", imports], env, None)
        print(f"{label:<48} {'':>10} {floor.seconds:>8.1f} {floor.peak_mib:>9.0f}")
    for name in (small, big):
        ways = [
            ("jobs, csv", ["--format", "csv"], "jobs.csv"),
            ("epochs, csv", ["--epochs", "--format", "csv"], "epochs.csv"),
            ("epochs, jsonl", ["--epochs", "--format", "jsonl"], "epochs.jsonl"),
            ("epochs, parquet", ["--epochs", "--format", "parquet"], "epochs.parquet"),
        ]
        rows = 0
        for label, options, file in ways:
            out = folder / f"{name}-{file}"
            done = run([*cli, name, *options, "--out", str(out)], env, out)
            rows = done.rows
            print(f"{'export ' + label + ' (' + name + ')':<48} {done.rows:>10,} "
                  f"{done.seconds:>8.1f} {done.peak_mib:>9.0f} {done.size_mib:>9.1f}")  # fmt: skip
        if not args.no_in_memory:
            out = folder / f"{name}-in-memory.csv"
            done = run([sys.executable, "-c", IN_MEMORY, url, name, str(out)], env, out)
            print(f"{'all in memory, pandas to_csv (' + name + ')':<48} {rows:>10,} "
                  f"{done.seconds:>8.1f} {done.peak_mib:>9.0f} {done.size_mib:>9.1f}")  # fmt: skip
    print(f"\nfiles in {folder}")


if __name__ == "__main__":
    main()
