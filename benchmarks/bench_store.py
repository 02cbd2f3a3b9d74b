"""Store timings on SQLite and PostgreSQL: epoch writes, and the status query of a big sweep.

    python benchmarks/bench_store.py
    python benchmarks/bench_store.py --postgres-url postgresql://postgres@127.0.0.1:5432/postgres

For each backend: creating a 1,000-job sweep (median of 3); the median and 95th percentile of
200 `record_epoch` calls (without and with a 200 kB checkpoint); a 32-job stack's epoch with
the 31 kB checkpoint of a linear model each, as one `record_epochs` and as 32 `record_epoch`
calls in turn (median of 30 each, and the ratio); a stack's run info and end as one
`set_run_infos` and one `finish_jobs`, and as 32 calls of each (the same); then, with 1,000
jobs x 40 epochs stored, `sweep_jobs` (the status query, 20 calls) and `sweep_epochs` (what the
report reads, 5 calls). SQLite is a file in a temporary folder; PostgreSQL is a fresh database
on the server, dropped at the end. Targets: an epoch write under 5 ms, the status query under
100 ms.
Results: docs/benchmarks.md, section "Store".
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from psycopg import sql
from sqlalchemy import insert, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from db.migrate import upgrade  # noqa: E402
from db.models import EpochModel  # noqa: E402
from db.records import EpochRow, EpochWrite, NewJob  # noqa: E402
from db.store import Store  # noqa: E402

N_JOBS, N_EPOCHS, N_WRITES = 1000, 40, 200
CHECKPOINT = bytes(200_000)
# A stack of issue 21's grid, each member's checkpoint a linear model's (784 x 10 + 10 floats).
STACK, STACK_CHECKPOINT, STACK_EPOCHS = 32, bytes(31_500), 30


def new_jobs(n: int, tag: str) -> list[NewJob]:
    return [
        NewJob(
            f"{tag}{i:06d}", {"model": "mlp", "lr": 0.1, "seed": i}, "mlp", "cross_entropy", 0.1
        )
        for i in range(n)
    ]


def row(epoch: int) -> EpochRow:
    return EpochRow(epoch, 0.31, 0.29, 0.91, [0.9 + k / 100 for k in range(10)], 0.2)


def median_ms(action: Callable[[], object], repeats: int) -> tuple[float, float]:
    """(median, 95th percentile) wall time of `action` in ms, after one untimed warm-up call
    (the first call compiles its SQL)."""
    action()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), statistics.quantiles(times, n=20)[-1]


def fill_epochs(store: Store, sweep_id: int, n_epochs: int) -> None:
    """Store n_epochs for every job directly (200 s of record_epoch calls otherwise)."""
    job_ids = [job.job_id for job in store.sweep_jobs(sweep_id)]
    now = datetime.now(UTC)
    per_class = [0.9 + k / 100 for k in range(10)]
    rows = [
        {
            "job_id": job_id,
            "epoch": epoch,
            "train_loss": 0.3 if epoch % 7 else None,
            "train_loss_kind": "finite" if epoch % 7 else "nan",
            "valid_loss": 0.29,
            "valid_loss_kind": "finite",
            "valid_acc": 0.5 + epoch / 100,
            "per_class_acc": per_class,
            "seconds": 0.2,
            "recorded_at": now,
        }
        for job_id in job_ids
        for epoch in range(1, n_epochs + 1)
    ]
    with store.engine.begin() as connection:
        for start in range(0, len(rows), 5000):
            connection.execute(insert(EpochModel.__table__), rows[start : start + 5000])
        if store.engine.dialect.name == "postgresql":
            connection.execute(text("ANALYZE"))  # what autovacuum does after a bulk load


def bench(url: str) -> dict[str, str]:
    upgrade(url)
    with Store(url) as store:
        create_ms = []
        for attempt in range(3):
            start = time.perf_counter()
            sweep = store.create_sweep(f"bench-{attempt}", {}, str(attempt), new_jobs(N_JOBS, "k"))
            create_ms.append((time.perf_counter() - start) * 1000)
        writer = store.create_sweep("writes", {}, "w", new_jobs(2, "w"))
        plain_job, checkpoint_job = [job.job_id for job in store.sweep_jobs(writer.sweep_id)]
        store.claim_jobs([plain_job, checkpoint_job], "bench", 60)
        epochs = iter(range(1, N_WRITES + 2))
        plain = median_ms(
            lambda: store.record_epoch(plain_job, "bench", row(next(epochs))), N_WRITES
        )
        epochs = iter(range(1, N_WRITES + 2))
        with_checkpoint = median_ms(
            lambda: store.record_epoch(checkpoint_job, "bench", row(next(epochs)), CHECKPOINT),
            N_WRITES,
        )

        stacked, one_by_one = stack_epochs(store)
        ended, ended_one_by_one = stack_ends(store)

        fill_epochs(store, sweep.sweep_id, N_EPOCHS)
        jobs = store.sweep_jobs(sweep.sweep_id)
        assert len(jobs) == N_JOBS and all(job.last_epoch == N_EPOCHS for job in jobs)
        status = median_ms(lambda: store.sweep_jobs(sweep.sweep_id), 20)
        report = median_ms(lambda: store.sweep_epochs(sweep.sweep_id), 5)
    return {
        "create 1,000 jobs": f"{statistics.median(create_ms):.0f} ms",
        "record_epoch": "{:.2f} ms (p95 {:.1f})".format(*plain),
        "record_epoch + 200 kB ckpt": "{:.2f} ms (p95 {:.1f})".format(*with_checkpoint),
        "a stack of 32's epoch, record_epochs": f"{stacked:.1f} ms",
        "... as 32 record_epoch calls": f"{one_by_one:.1f} ms ({one_by_one / stacked:.1f}x)",
        "its run info and end, set_run_infos + finish_jobs": f"{ended:.1f} ms",
        "... as 32 set_run_info + 32 finish_job": (
            f"{ended_one_by_one:.1f} ms ({ended_one_by_one / ended:.1f}x)"
        ),
        "sweep_jobs (status)": "{:.1f} ms (p95 {:.1f})".format(*status),
        "sweep_epochs (40,000 rows)": f"{report[0]:.0f} ms",
    }


def stack_ends(store: Store) -> tuple[float, float]:
    """Median ms of a 32-job stack's run info and end (`set_run_infos` before its first epoch,
    `finish_jobs` after its last), and of the same as 32 `set_run_info` and 32 `finish_job`
    calls: the two ways taking turns, each on a fresh stack with an epoch stored."""

    def stack(round_: int, way: str) -> list[int]:
        made = store.create_sweep(f"ends-{way}-{round_}", {}, way, new_jobs(STACK, way))
        job_ids = [job.job_id for job in store.sweep_jobs(made.sweep_id)]
        store.claim_jobs(job_ids, "bench", 60)
        store.record_epochs("bench", [EpochWrite(j, row(1), STACK_CHECKPOINT) for j in job_ids])
        return job_ids

    def together(job_ids: list[int]) -> None:
        store.set_run_infos("bench", {j: {"seed": j} for j in job_ids}, "cpu")
        store.finish_jobs(job_ids, "succeeded", worker="bench")

    def one_by_one(job_ids: list[int]) -> None:
        for j in job_ids:
            store.set_run_info(j, "bench", {"seed": j}, "cpu")
        for j in job_ids:
            store.finish_job(j, "succeeded", worker="bench")

    ways: dict[str, Callable[[list[int]], None]] = {"together": together, "one by one": one_by_one}
    times: dict[str, list[float]] = {way: [] for way in ways}
    for round_ in range(-1, STACK_EPOCHS):  # round -1 untimed: the first call compiles its SQL
        for name, way in ways.items():
            job_ids = stack(round_, name)
            start = time.perf_counter()
            way(job_ids)
            if round_ >= 0:
                times[name].append((time.perf_counter() - start) * 1000)
    return statistics.median(times["together"]), statistics.median(times["one by one"])


def stack_epochs(store: Store) -> tuple[float, float]:
    """Median ms of a 32-job stack's epoch written as one `record_epochs`, and as 32
    `record_epoch` calls, the two ways taking turns on the same jobs (an epoch written again
    replaces its rows, as a resumed stack's does)."""
    stack = store.create_sweep("stack", {}, "s", new_jobs(STACK, "s"))
    job_ids = [job.job_id for job in store.sweep_jobs(stack.sweep_id)]
    store.claim_jobs(job_ids, "bench", 60)
    writes = [EpochWrite(job_id, row(1), STACK_CHECKPOINT) for job_id in job_ids]
    ways: dict[str, Callable[[], object]] = {
        "stacked": lambda: store.record_epochs("bench", writes),
        "one by one": lambda: [
            store.record_epoch(w.job_id, "bench", w.row, w.checkpoint) for w in writes
        ],
    }
    times: dict[str, list[float]] = {way: [] for way in ways}
    for way in ways.values():
        way()  # untimed: the first call compiles its SQL
    for _ in range(STACK_EPOCHS):
        for name, way in ways.items():
            start = time.perf_counter()
            way()
            times[name].append((time.perf_counter() - start) * 1000)
    return statistics.median(times["stacked"]), statistics.median(times["one by one"])


@contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    admin = make_url(admin_url).set(drivername="postgresql")
    name = f"mnistgrid_bench_{secrets.token_hex(4)}"
    conninfo = admin.render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        url = admin.set(drivername="postgresql+psycopg", database=name)
        yield url.render_as_string(hide_password=False)
    finally:
        with psycopg.connect(conninfo, autocommit=True) as connection:
            connection.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--postgres-url",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="a server where CREATE DATABASE works (a scratch database is made and dropped)",
    )
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        results["SQLite (WAL, file)"] = bench(f"sqlite:///{Path(folder) / 'bench.db'}")
    with postgres_database(args.postgres_url) as url:
        results["PostgreSQL 127.0.0.1"] = bench(url)

    print_table(results)


def print_table(results: dict[str, dict[str, str]]) -> None:
    """A Markdown table: one row per metric, one column per backend."""
    metrics = list(next(iter(results.values())))
    width = max(map(len, metrics))
    print(f"| {'':{width}} | " + " | ".join(results) + " |")
    print(f"|{'-' * (width + 2)}|" + "|".join("-" * (len(name) + 2) for name in results) + "|")
    for metric in metrics:
        cells = " | ".join(f"{results[name][metric]:{len(name)}}" for name in results)
        print(f"| {metric:{width}} | {cells} |")


if __name__ == "__main__":
    main()
