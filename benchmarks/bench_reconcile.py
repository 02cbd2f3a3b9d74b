"""What the healer costs: one reconcile pass over 1,000 unfinished jobs, on SQLite and PostgreSQL.

    python benchmarks/bench_reconcile.py
    python benchmarks/bench_reconcile.py --postgres-url postgresql://postgres@127.0.0.1:5432/postgres

Every worker process runs a reconcile pass every half lease (60 s by default). The store holds
10 sweeps of 100 unfinished jobs: half running under live leases, half queued with fresh
messages. For each backend: the median pass with nothing to heal, and with 10 lost jobs (their
leases aged by hand before each pass, so the pass takes them over and sends them to a real
Redis); against it, what a per-sweep scan would read instead (`sweep_jobs` of every unfinished
sweep, the status query). Also: the SQL statements one pass runs, and the share of one core a
worker spends on it at the default lease. Results: docs/benchmarks.md, section "Healing".
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import redis
from sqlalchemy import event, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_store import new_jobs, postgres_database, print_table  # noqa: E402
from db.migrate import upgrade  # noqa: E402
from db.store import Store  # noqa: E402
from mnistgrid.queue.app import make_celery  # noqa: E402
from mnistgrid.queue.reconcile import reconcile  # noqa: E402
from mnistgrid.settings import Settings  # noqa: E402

N_SWEEPS, JOBS_PER_SWEEP, N_LOST = 10, 100, 10
LEASE = Settings().lease_seconds
GRID = {"train": {"time_limit": 3600.0, "device": "cpu"}}
REPEATS = 20


def median_ms(action: Callable[[], object], before: Callable[[], object] = lambda: None) -> float:
    """Median wall time of `action` in ms over REPEATS runs, `before` untimed before each."""
    before()
    action()  # warm-up: the first call compiles its SQL
    times = []
    for _ in range(REPEATS):
        before()
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def fill(store: Store) -> list[int]:
    """10 sweeps of 100 jobs, half of each claimed by a live worker; returns the claimed ids."""
    running = []
    for n in range(N_SWEEPS):
        jobs = new_jobs(JOBS_PER_SWEEP, f"s{n}-")
        for job in jobs:
            object.__setattr__(job, "spec", {**job.spec, "device": "cpu"})
        sweep = store.create_sweep(f"sweep-{n}", GRID, str(n), jobs)
        ids = [job.job_id for job in store.sweep_jobs(sweep.sweep_id)][: JOBS_PER_SWEEP // 2]
        store.claim_jobs(ids, "alive:1", LEASE)
        running += ids
    return running


def age_leases(store: Store, job_ids: list[int]) -> Callable[[], None]:
    """Make `job_ids` running again under leases that expired an hour ago."""
    ids = ",".join(map(str, job_ids))

    def age() -> None:
        with store.engine.begin() as connection:
            connection.execute(
                text(
                    "UPDATE jobs SET status = 'running', worker = 'dead:1', "
                    f"heartbeat_at = :old, lease_until = :old WHERE job_id IN ({ids})"
                ),
                {"old": "2000-01-01 00:00:00+00:00"},
            )

    return age


def count_statements(store: Store, action: Callable[[], object]) -> int:
    seen = []

    def record(*_: object) -> None:
        seen.append(1)

    event.listen(store.engine, "before_cursor_execute", record)
    try:
        action()
    finally:
        event.remove(store.engine, "before_cursor_execute", record)
    return len(seen)


def bench(url: str, broker_url: str) -> dict[str, str]:
    upgrade(url)
    app = make_celery(Settings(broker_url=broker_url))
    with Store(url) as store:
        running = fill(store)

        def one_pass() -> object:
            return reconcile(store, app, LEASE, max_attempts=1000)

        def per_sweep_scan() -> object:
            return [store.sweep_jobs(sweep.sweep_id) for sweep in store.list_sweeps()]

        healthy = median_ms(one_pass)
        statements = count_statements(store, one_pass)
        lost = median_ms(one_pass, before=age_leases(store, running[:N_LOST]))
        scan = median_ms(per_sweep_scan)
    redis.Redis.from_url(broker_url).flushdb()
    share = healthy / 1000 / (LEASE / 2)
    return {
        "pass, nothing to heal": f"{healthy:.1f} ms",
        "SQL statements per pass": str(statements),
        f"pass, {N_LOST} lost jobs re-sent": f"{lost:.1f} ms",
        "per-sweep scan instead": f"{scan:.0f} ms",
        "scan / pass (nothing to heal)": f"{scan / healthy:.0f}x",
        f"share of a core at lease {LEASE:g} s": f"{share:.5%}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--postgres-url",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="a server where CREATE DATABASE works (a scratch database is made and dropped)",
    )
    parser.add_argument(
        "--broker-url",
        default="redis://127.0.0.1:6379/12",
        help="a Redis database this run may flush",
    )
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # each pass logs the jobs it takes over
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        sqlite_url = f"sqlite:///{Path(folder) / 'bench.db'}"
        results["SQLite (WAL, file)"] = bench(sqlite_url, args.broker_url)
    with postgres_database(args.postgres_url) as url:
        results["PostgreSQL 127.0.0.1"] = bench(url, args.broker_url)
    print_table(results)


if __name__ == "__main__":
    main()
