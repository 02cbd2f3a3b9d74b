"""The web view of a big sweep: its first render, and a live update through the cursor.

    python benchmarks/bench_web.py                         # SQLite, in a temporary folder
    python benchmarks/bench_web.py --db /tmp/bench_web.db  # keep the filled store for next time
    python benchmarks/bench_web.py --postgres-url postgresql://postgres@127.0.0.1:5432/postgres
    python benchmarks/bench_web.py --db /tmp/bench_web.db --browser   # and in Chromium

A sweep of 1,000 jobs x 40 epochs (synthetic curves, as benchmarks/bench_report.py writes
them through the store) with its last 16 jobs still running at epoch 20. The app runs on a real
uvicorn server on loopback; every figure is over HTTP. Two comparisons, each in one run:

- first render: `GET /sweeps/NAME` (the whole page: 1,000 table rows, every curve, the
  report's summaries and figures) against the report's own read of the sweep (`gather`, no
  figures drawn);
- live update: the 16 running jobs write an epoch each, then `GET .../updates?since=CURSOR`,
  against re-fetching every job and every epoch (`GET /api/sweeps/NAME`). The page polls every
  POLL_SECONDS; the bench waits as long between the writes and the update.

Results: docs/benchmarks.md, section "Web view". No test asserts a time.
"""

from __future__ import annotations

import argparse
import gzip
import random
import secrets
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import httpx
import psycopg
import uvicorn
from psycopg import sql
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_report import (  # noqa: E402
    finish_synthetic,
    grid_specs,
    synthetic_epochs,
)
from db.migrate import upgrade  # noqa: E402
from db.store import Store  # noqa: E402
from mnistgrid.errors import NotFound  # noqa: E402
from mnistgrid.report.gather import gather  # noqa: E402
from mnistgrid.settings import Settings  # noqa: E402
from mnistgrid.spec import JobSpec  # noqa: E402
from mnistgrid.web.app import make_app  # noqa: E402
from mnistgrid.web.pages import POLL_SECONDS  # noqa: E402
from orchestrator.plan import new_job  # noqa: E402

N_JOBS, N_EPOCHS, N_RUNNING = 1000, 40, 16
WORKER = "bench:0"


def fill(store: Store, name: str) -> int:
    """The sweep, its last N_RUNNING jobs running at half their epochs."""
    specs = grid_specs(N_JOBS, N_EPOCHS)
    jobs = [new_job(s) for s in specs]
    sweep_id = store.create_sweep(name, {"synthetic": True}, name, jobs).sweep_id
    infos = store.sweep_jobs(sweep_id)
    store.claim_jobs([j.job_id for j in infos], WORKER, lease_seconds=3600)
    rng = random.Random(0)
    for n, info in enumerate(infos):
        rows, diverged = synthetic_epochs(JobSpec.model_validate(info.params), rng)
        running = n >= N_JOBS - N_RUNNING
        for row in rows[: N_EPOCHS // 2] if running else rows:
            store.record_epoch(info.job_id, WORKER, row)
        if not running:
            finish_synthetic(store, info.job_id, WORKER, diverged)
    return sweep_id


@contextmanager
def served(store: Store) -> Iterator[str]:
    port = 8700 + secrets.randbelow(200)
    app = make_app(Settings(database_url=store.url, lease_seconds=3600), store)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join()


def timed(call: Callable[[], object], repeat: int) -> tuple[float, float, object]:
    """Median wall and CPU seconds over `repeat` calls, and the last call's result. CPU time is
    this process's, server thread and client alike: on a busy machine it moves less than the
    wall clock."""
    walls, cpus, result = [], [], None
    for _ in range(repeat):
        tick, tock = time.perf_counter(), time.process_time()
        result = call()
        walls.append(time.perf_counter() - tick)
        cpus.append(time.process_time() - tock)
    return statistics.median(walls), statistics.median(cpus), result


def bench(store: Store, name: str, repeat: int, browser: bool = False) -> None:
    sweep_id = store.get_sweep(name).sweep_id
    with served(store) as url, httpx.Client(base_url=url, timeout=60) as client:
        client.get(f"/sweeps/{name}")  # warm: imports, plotly's validators
        page_s, page_cpu, page = timed(lambda: client.get(f"/sweeps/{name}"), repeat)
        gather_s, gather_cpu, _ = timed(lambda: gather(store, sweep_id), repeat)
        zipped = len(gzip.compress(page.content, 5))
        print(
            f"first render: GET /sweeps/{name}  {1000 * page_s:5.0f} ms ({1000 * page_cpu:.0f} "
            f"ms CPU)  {len(page.content) / 1e6:.2f} MB ({zipped / 1e3:.0f} kB gzipped)"
        )
        print(
            f"report's gather (no figures)      {1000 * gather_s:5.0f} ms "
            f"({1000 * gather_cpu:.0f} "
            f"ms CPU)  -> the page costs {page_s / gather_s:.2f}x the report's read "
            f"({page_cpu / gather_cpu:.2f}x in CPU)"
        )
        if browser:
            in_browser(url, name, repeat)
        update_rounds(store, client, name, repeat)


# In the page: has plotly drawn the learning curves yet?
CURVES_DRAWN = (
    "const d = document.getElementById('fig-curves');"
    "return !!(d && d._fullLayout && d.querySelector('.scatterlayer .trace'));"
)
RECEIVED = "return performance.getEntriesByType('navigation')[0].responseEnd"


def in_browser(url: str, name: str, repeat: int) -> None:
    """The same page in headless Chromium (Debian's chromium and chromium-driver): from the
    request to the curves drawn, the time a person waits."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "chromium"
    folder = tempfile.mkdtemp(prefix="bench_web_chromium_")
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1400,1500",
        f"--user-data-dir={folder}",
    ):
        options.add_argument(argument)  # fmt: skip
    driver = Service(shutil.which("chromedriver") or "chromedriver")
    browser = webdriver.Chrome(service=driver, options=options)
    try:
        drawn, ready = [], []
        for _ in range(repeat + 1):  # the first load also fetches and compiles plotly.js
            tick = time.perf_counter()
            browser.get(f"{url}/sweeps/{name}")
            while not browser.execute_script(CURVES_DRAWN):
                time.sleep(0.01)
            drawn.append(time.perf_counter() - tick)
            ready.append(browser.execute_script(RECEIVED) / 1000)
        print(
            f"in Chromium: page received {1000 * statistics.median(ready[1:]):.0f} ms, "
            f"curves drawn {1000 * statistics.median(drawn[1:]):.0f} ms after the request "
            f"(medians of {repeat}; plotly.js cached)"
        )
    finally:
        browser.quit()


def update_rounds(store: Store, client: httpx.Client, name: str, repeat: int) -> None:
    running = [
        j for j in store.sweep_jobs(store.get_sweep(name).sweep_id) if j.status == "running"
    ]
    cursor = client.get(f"/api/sweeps/{name}").json()["cursor"]
    rng = random.Random(1)
    times, sizes, points = [], [], []
    for _ in range(repeat):
        for job in running:
            epoch = (job.last_epoch or 0) + len(times) + 1
            row = synthetic_epochs(JobSpec.model_validate(job.params), rng)[0][0]
            store.record_epoch(job.job_id, WORKER, replace(row, epoch=epoch))
        time.sleep(POLL_SECONDS)
        tick = time.perf_counter()
        answer = client.get(f"/api/sweeps/{name}/updates", params={"since": cursor})
        times.append(time.perf_counter() - tick)
        update = answer.json()
        cursor = update["cursor"]
        sizes.append(len(answer.content))
        points.append(sum(len(p) for p in update["points"].values()))
    full_s, _, full = timed(lambda: client.get(f"/api/sweeps/{name}"), repeat)
    update_s, update_bytes = statistics.median(times), statistics.median(sizes)
    print(
        f"live update: {len(running)} jobs wrote an epoch, GET .../updates?since=   "
        f"{1000 * update_s:6.1f} ms  {update_bytes / 1e3:7.1f} kB  "
        f"({statistics.median(points):.0f} epochs, {len(running)} rows)"
    )
    print(f"re-fetch every job and epoch: GET /api/sweeps/{name}   {1000 * full_s:6.1f} ms  "
          f"{len(full.content) / 1e3:7.1f} kB")  # fmt: skip
    print(
        f"-> the cursor's update is {full_s / update_s:.0f}x faster and "
        f"{len(full.content) / update_bytes:.0f}x smaller"
    )


@contextmanager
def postgres_store(admin_url: str) -> Iterator[Store]:
    name = f"bench_web_{secrets.token_hex(4)}"
    conninfo = make_url(admin_url).set(drivername="postgresql")
    admin = conninfo.render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = make_url(admin_url).set(drivername="postgresql+psycopg", database=name)
    database_url = url.render_as_string(hide_password=False)
    upgrade(database_url)
    store = Store(database_url)
    try:
        yield store
    finally:
        store.close()
        with psycopg.connect(admin, autocommit=True) as connection:
            drop = sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name))
            connection.execute(drop)


def filled(store: Store, name: str) -> None:
    try:
        store.get_sweep(name)
        print(f"reusing sweep {name} in {store.url}")
    except NotFound:
        tick = time.perf_counter()
        fill(store, name)
        print(f"filled {N_JOBS} jobs x {N_EPOCHS} epochs in {time.perf_counter() - tick:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=None, help="SQLite file to fill or reuse")
    parser.add_argument("--postgres-url", default=None, help="an admin URL: bench PostgreSQL")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--browser", action="store_true", help="also time the page in headless Chromium"
    )
    args = parser.parse_args()
    name = f"web-{N_JOBS}x{N_EPOCHS}"
    if args.postgres_url:
        with postgres_store(args.postgres_url) as store:
            print("PostgreSQL")
            filled(store, name)
            bench(store, name, args.repeat, args.browser)
        return
    db = args.db or Path(tempfile.mkdtemp(prefix="bench_web_")) / "bench.db"
    store = Store(f"sqlite:///{db}")
    print(f"SQLite {db}")
    filled(store, name)
    bench(store, name, args.repeat, args.browser)


if __name__ == "__main__":
    main()
