"""Chaos: a fused sweep with nobody watching, through a seeded, shuffled schedule of faults.

    python -m pytest tests/integration/test_chaos.py -s   # -s prints the schedule and figures

PostgreSQL, Redis on its append-only file, three `mnistgrid worker` processes and the default
MNISTGRID_MAX_ATTEMPTS. Eleven faults while the sweep trains: workers SIGKILLed and SIGTERMed
(each replaced at once, as a restart policy would), Redis killed and restarted, Redis flushed,
PostgreSQL restarted. It holds when every job ends `succeeded` with exactly one row per epoch,
the report is written, and every job's final accuracy equals a quiet run's.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis
from sqlalchemy import text

from db.migrate import upgrade
from db.store import Store
from mnistgrid.core.training import train_jobs
from mnistgrid.data.datasets import load_task
from mnistgrid.spec import JobSpec
from tests.integration.conftest import postgres_database, restart_postgres
from tests.integration.services import (
    epochs_of,
    mnistgrid_env,
    redis_server,
    run_cli,
    start_worker,
    stop_process,
    wait_until,
)

pytestmark = pytest.mark.integration

SEED = 20261129
EPOCHS = 16
JOBS = 16
FAULTS = ["sigkill"] * 3 + ["sigterm"] * 2 + ["redis"] * 2 + ["flushall"] * 2 + ["postgres"] * 2
GRID = f"""
name = "chaos"
[train]
epochs = {EPOCHS}
[grid]
model = "linear"
loss = ["cross_entropy", "softmax_mse"]
lr = [0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5]
batch_size = 256
"""  # 16 jobs in 4 stacks of 4 (MNISTGRID_GROUP_SIZE=4)
# A quiet run's accuracy, within the fused tests' tolerance: a stack split differently by the
# faults sums in another order, which may move an example or two across the boundary.
ACCURACY_TOLERANCE = 2 / 10_000


class Chaos:
    """The sweep's workers, Redis and PostgreSQL, and the faults done to them."""

    def __init__(self, env: dict[str, str], logs: Path, server) -> None:  # noqa: ANN001
        self.env, self.logs, self.redis = env, logs, server
        self.workers: list[subprocess.Popen] = []
        self.leaving: list[subprocess.Popen] = []  # told to stop, finishing their epoch
        self.started = 0

    def start_worker(self) -> None:
        self.started += 1
        log = self.logs / f"worker{self.started}.log"
        self.workers.append(start_worker(self.env, f"c{self.started}", log))

    def replace(self, victim: subprocess.Popen, sig: int) -> None:
        if sig == signal.SIGKILL:
            os.killpg(victim.pid, signal.SIGKILL)  # the whole container, as `docker kill`
        else:
            victim.send_signal(signal.SIGTERM)  # the main process, as `docker stop`
        self.workers.remove(victim)
        self.leaving.append(victim)
        self.start_worker()  # at once: its restart policy

    def inject(self, fault: str, rng: random.Random) -> None:
        if fault in ("sigkill", "sigterm"):
            victim = rng.choice(self.workers)
            self.replace(victim, signal.SIGKILL if fault == "sigkill" else signal.SIGTERM)
        elif fault == "redis":
            self.redis.stop()  # SIGKILL: what was written survives in the append-only file
            time.sleep(1)
            self.redis.start()
        elif fault == "flushall":
            redis.Redis.from_url(self.redis.url).flushall()
        else:
            restart_postgres()

    def stop(self) -> None:
        for process in self.workers + self.leaving:
            stop_process(process)


@dataclass(frozen=True)
class Fault:
    name: str
    at: datetime
    stored: dict[int, int]  # each job's last stored epoch when it struck


def last_epochs(store: Store, sweep_id: int) -> dict[int, int]:
    return {job.job_id: job.last_epoch or 0 for job in store.sweep_jobs(sweep_id)}


def redone_after(store: Store, faults: list[Fault]) -> list[int]:
    """What each fault cost: epochs it had seen stored that were trained (and written) again
    before the next fault. A re-trained epoch rewrites its row, and with it `recorded_at`."""
    with store.engine.connect() as connection:
        rows = connection.execute(text("SELECT job_id, epoch, recorded_at FROM epochs")).all()
    ends = [fault.at for fault in faults[1:]] + [datetime.max.replace(tzinfo=UTC)]
    return [
        sum(
            1
            for job_id, epoch, recorded_at in rows
            if epoch <= fault.stored.get(job_id, 0)
            and fault.at < recorded_at.astimezone(UTC) < end
        )
        for fault, end in zip(faults, ends, strict=True)
    ]


def quiet_accuracy(store: Store, sweep_id: int, mnist_dir: Path) -> dict[int, float]:
    """Each job's final accuracy, trained here in the stacks the sweep planned, undisturbed."""
    jobs = store.sweep_jobs(sweep_id)
    stacks: dict[str, list] = {}
    for job in jobs:
        stacks.setdefault(job.group_key or str(job.job_id), []).append(job)
    final = {}
    for members in stacks.values():
        specs = [JobSpec.model_validate(job.params) for job in members]
        data = load_task(mnist_dir, Path.home() / ".cache" / "mnistgrid", specs[0].data)
        for job, result in zip(members, train_jobs(specs, data), strict=True):
            final[job.job_id] = result.final.valid_acc
    return final


@pytest.fixture
def chaos_env(mnist_dir, tmp_path):
    with postgres_database("mnistgrid_chaos") as url:
        upgrade(url)
        folder = tmp_path / "redis"
        folder.mkdir()
        with redis_server(folder, appendonly=True) as server:
            env = mnistgrid_env(
                database_url=url,
                broker_url=server.url,
                data_dir=str(mnist_dir),
                lease_seconds="3",
                group_size="4",
                reports_dir=str(tmp_path / "reports"),
            )
            yield env, server


def test_a_fused_sweep_survives_a_shuffled_schedule_of_faults(chaos_env, tmp_path, mnist_dir):
    env, server = chaos_env
    rng = random.Random(SEED)
    schedule = FAULTS[:]
    rng.shuffle(schedule)
    store = Store(env["MNISTGRID_DATABASE_URL"])
    grid = tmp_path / "chaos.toml"
    grid.write_text(GRID)
    chaos = Chaos(env, tmp_path, server)
    for _ in range(3):
        chaos.start_worker()
    try:
        assert run_cli(env, "submit", str(grid)).returncode == 0  # no --wait: nobody watches
        sweep_id = store.get_sweep("chaos").sweep_id

        def stored() -> int:
            return sum(job.last_epoch or 0 for job in store.sweep_jobs(sweep_id))

        # Spread over the sweep: fault k once k/12 of its epochs are stored.
        faults = []
        for k, fault in enumerate(schedule, start=1):
            due = k * JOBS * EPOCHS // (len(schedule) + 1)
            wait_until(lambda d=due: stored() >= d, 300, f"{due} epochs before {fault}")
            faults.append(Fault(fault, datetime.now(UTC), last_epochs(store, sweep_id)))
            chaos.inject(fault, rng)
        last_fault = time.monotonic()
        assert stored() < JOBS * EPOCHS, "the sweep ended before the last fault: make it longer"
        wait_until(lambda: store.get_sweep(sweep_id).report_status == "written", 600, "the end")
        healed_in = time.monotonic() - last_fault
    finally:
        chaos.stop()

    jobs = store.sweep_jobs(sweep_id)
    assert [job.status for job in jobs] == ["succeeded"] * JOBS, [j.error for j in jobs]
    for job in jobs:
        assert epochs_of(store, job.job_id) == list(range(1, EPOCHS + 1))
    assert (Path(env["MNISTGRID_REPORTS_DIR"]) / "chaos" / "report.html").exists()
    quiet = quiet_accuracy(store, sweep_id, mnist_dir)
    off = {job.job_id: abs(job.final_acc - quiet[job.job_id]) for job in jobs}
    assert max(off.values()) <= ACCURACY_TOLERANCE, off
    starts = Counter(job.attempts for job in jobs)
    for fault, redone in zip(faults, redone_after(store, faults), strict=True):
        print(f"  {fault.name} at {sum(fault.stored.values())} epochs stored: {redone} redone")
    print(
        f"\nchaos: {len(schedule)} faults {schedule}; {chaos.started} workers started; starts "
        f"per job {dict(sorted(starts.items()))}; lost attempts charged "
        f"{sum(job.lost_attempts for job in jobs)}; report written {healed_in:.1f} s after the "
        f"last fault; largest accuracy difference from a quiet run {max(off.values()):.4f}"
    )
