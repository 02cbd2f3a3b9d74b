"""Routine operations never cost a job: graceful restarts, leases held from the claim, set-up
failures that end at once, a bad row the reconcile steps over, a restart at a rung.

    python -m pytest tests/integration/test_operations.py -s

The runner tests drive `JobRunner` in this process against a real store (SQLite and
PostgreSQL) and the real MNIST data, with a second "worker" taking over whatever it may; the
others run real `mnistgrid worker` processes on real Redis.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest
import redis
import torch
from sqlalchemy import update

from db.migrate import upgrade
from db.models import CheckpointModel, JobModel
from db.records import TakeOver
from db.store import Store
from mnistgrid.queue.app import make_celery
from mnistgrid.queue.reconcile import reconcile
from mnistgrid.routing import TRAIN_TASK
from mnistgrid.settings import Settings
from orchestrator.grid import parse_grid
from orchestrator.submit import plan_sweep
from tests.integration.conftest import postgres_database
from tests.integration.services import (
    epochs_of,
    mnistgrid_env,
    private_redis_db,
    run_cli,
    start_worker,
    stop_process,
    wait_until,
)
from tests.unit.test_checkpoint import RunsCode, saved
from workers import job_runner
from workers.job_runner import JobRunner

pytestmark = pytest.mark.integration

HOOKS = Path(__file__).parent / "hooks"
LEASE = 1.0  # seconds: short, so that any gap in a lease is seen at once

PAIR_GRID = """
name = "{name}"
fuse = {fuse}
[data]
digits = [3, 7]
[train]
epochs = {epochs}
time_limit = 300
[grid]
model = "linear"
loss = {losses}
lr = {lrs}
batch_size = 64
"""


def pair_grid(
    name: str, lrs: str = "[0.5]", epochs: int = 4, fuse: bool = False, losses: str = ""
) -> str:
    """A grid of linear jobs on 3 vs 7, one per lr (and loss): quick to train."""
    losses = losses or '"cross_entropy"'
    return PAIR_GRID.format(
        name=name, fuse=str(fuse).lower(), epochs=epochs, lrs=lrs, losses=losses
    )


def write_sweep(store: Store, name: str, **grid_options: object) -> list[int]:
    """A sweep written as `submit` writes it, with no broker: its job ids."""
    grid = parse_grid(pair_grid(name, **grid_options), name)
    jobs = plan_sweep(grid, Settings())
    created = store.create_sweep(grid.name, grid.spec.model_dump(mode="json"), grid.hash(), jobs)
    return [job.job_id for job in store.sweep_jobs(created.sweep_id)]


@pytest.fixture
def settings(database_url: str, mnist_dir: Path) -> Settings:
    return Settings(
        database_url=database_url, data_dir=mnist_dir, lease_seconds=LEASE, max_attempts=3
    )


class Usurper:
    """Another worker's reconcile, taking over every job whose lease runs out, all along."""

    def __init__(self, store: Store) -> None:
        self.store, self.taken = store, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> Usurper:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        while not self._stop.wait(LEASE / 5):
            taken: TakeOver = self.store.take_over_lost_jobs(max_attempts=3)
            self.taken += [job.job_id for job in taken.lost]


# -- leases: from the claim to the end ----------------------------------------------------


def test_every_claimed_job_keeps_its_lease_from_its_claim(settings, store, monkeypatch):
    """A slow data load, and a stack split by checkpoint epoch (one member waits while the
    other trains), never let a lease run out: nothing is taken over, nothing trained twice."""
    first, second = write_sweep(store, "split", lrs="[0.5, 1.0]", epochs=20, fuse=True)
    # `first` ran 2 epochs on a worker that was then stopped gracefully.
    stopping = JobRunner(store, settings, "earlier", lambda: len(store.epochs(first)) >= 2)
    assert stopping.run([first]).handed_back == [first]

    real_task_data = job_runner.task_data

    def slow_task_data(*args, **kwargs):  # a download, or a decode on a busy machine
        time.sleep(4 * LEASE)
        return real_task_data(*args, **kwargs)

    monkeypatch.setattr(job_runner, "task_data", slow_task_data)
    with Usurper(store) as usurper:
        outcome = JobRunner(store, settings, "now").run([first, second])
    assert usurper.taken == [] and outcome.handed_back == []
    for job_id, attempts in ((first, 2), (second, 1)):
        job = store.get_job(job_id)
        assert (job.status, job.attempts, job.lost_attempts) == ("succeeded", attempts, 0)
        assert epochs_of(store, job_id) == list(range(1, 21))


# -- set-up failures end the job at once --------------------------------------------------


def hostile_checkpoint(marker: Path) -> bytes:
    return saved({"epoch": 1, "params": [RunsCode(marker)]})


def wrong_shapes() -> bytes:
    return saved({"epoch": 1, "params": [torch.zeros(10, 10), torch.zeros(10)]})


@pytest.mark.parametrize(
    "damage", ["garbage", "hostile", "shapes", "params", "split_seed"], ids=str
)
def test_a_job_whose_set_up_fails_ends_failed_at_once(settings, store, tmp_path, damage):
    (job_id,) = write_sweep(store, "broken")
    # One epoch, then a graceful stop: the job is queued with a checkpoint.
    JobRunner(store, settings, "earlier", lambda: bool(store.epochs(job_id))).run([job_id])
    marker = tmp_path / "code-ran"
    if damage in ("garbage", "hostile", "shapes"):
        state = {
            "garbage": b"not a checkpoint",
            "hostile": hostile_checkpoint(marker),
            "shapes": wrong_shapes(),
        }[damage]
        change(store, CheckpointModel, job_id, state=state)
    else:
        params = dict(store.get_job(job_id).params)
        if damage == "params":
            params["lr"] = -1
        else:  # a validation split drawn with a seed no generator takes
            params["data"] = {**params["data"], "valid": 0.1, "split_seed": 10**23}
        change(store, JobModel, job_id, params=params)

    outcome = JobRunner(store, settings, "now").run([job_id])

    # Failed by this start, with its own error: not left `running` for a take-over to find.
    job = store.get_job(job_id)
    assert (job.status, job.attempts, job.lost_attempts) == ("failed", 2, 0)
    expected = {
        "garbage": "its stored checkpoint does not decode",
        "hostile": "its stored checkpoint does not decode",
        "shapes": "its stored checkpoint holds epoch 1 and parameters of shapes [(10, 10)",
        "params": "its stored params no longer validate: lr",
        "split_seed": "split_seed",
    }[damage]
    assert expected in job.error
    assert "\n" not in job.error.strip()
    assert not marker.exists()  # no pickled code ran
    assert outcome.sweeps_ended == [job.sweep_id]


# -- the reconcile steps over a bad row ---------------------------------------------------


def change(store: Store, model: type, job_id: int, **values: object) -> None:
    """Write a row by hand, as a user with SQL (or another mnistgrid version) might."""
    with store.engine.begin() as connection:
        connection.execute(update(model).where(model.job_id == job_id).values(**values))


def test_the_reconcile_fails_a_job_whose_params_no_longer_validate_and_goes_on(
    database_url: str, store: Store
) -> None:
    (bad_queued,) = write_sweep(store, "bad-queued")
    (bad_lost,) = write_sweep(store, "bad-lost")
    (lost,) = write_sweep(store, "fine-lost")
    for job_id in (bad_lost, lost):
        store.claim_job(job_id, "dead", 0)  # its worker died at once
    for job_id in (bad_queued, bad_lost):
        params = {**store.get_job(job_id).params, "model": "transformer"}
        change(store, JobModel, job_id, params=params, sent_at=None)
    with private_redis_db() as broker_url:
        app = make_celery(Settings(database_url=database_url, broker_url=broker_url))
        done = reconcile(store, app, lease_seconds=60, max_attempts=3)
        queued = redis.Redis.from_url(broker_url).lrange("cpu", 0, -1)
    assert [job.job_id for job in done.lost] == [bad_lost, lost]
    for job_id in (bad_queued, bad_lost):
        job = store.get_job(job_id)
        assert job.status == "failed"
        assert job.error.startswith("its stored params no longer validate: model")
        assert store.get_sweep(job.sweep_id).report_status == "requested"
    assert store.get_job(lost).status == "queued"
    headers = [json.loads(message)["headers"] for message in queued]
    trains = [h["argsrepr"] for h in headers if h["task"] == TRAIN_TASK]
    assert trains == [f"[[{lost}]]"]  # the bad jobs sent nothing


# -- graceful restarts --------------------------------------------------------------------


@pytest.fixture
def worker_env(mnist_dir, tmp_path):
    with postgres_database("mnistgrid_ops") as url, private_redis_db() as broker_url:
        upgrade(url)
        yield mnistgrid_env(
            database_url=url,
            broker_url=broker_url,
            data_dir=str(mnist_dir),
            lease_seconds="3",
            reports_dir=str(tmp_path / "reports"),
        )


def test_seven_graceful_restarts_of_the_only_worker_cost_no_job(worker_env, tmp_path):
    """What `docker compose up -d` after an `.env` change does, seven times during a sweep: a
    SIGTERM, a warm shutdown that hands the jobs back, and a new worker. With the default
    MNISTGRID_MAX_ATTEMPTS every job still ends `succeeded`, each epoch stored once."""
    env = worker_env
    grid = tmp_path / "restarts.toml"
    losses = '["cross_entropy", "softmax_mse"]'  # two stacks of two
    # Room for seven restarts, each an epoch or three of one stack: with ten, a quick machine
    # ended the sweep before the seventh worker could claim a job.
    epochs = 24
    grid.write_text(pair_grid("restarts", "[0.3, 1.0]", epochs=epochs, fuse=True, losses=losses))
    store = Store(env["MNISTGRID_DATABASE_URL"])
    assert run_cli(env, "submit", str(grid)).returncode == 0
    sweep_id = store.get_sweep("restarts").sweep_id

    def stored() -> int:
        return sum(len(epochs_of(store, job.job_id)) for job in store.sweep_jobs(sweep_id))

    def new_holder(seen: set[str]) -> bool:
        holders = {job.worker for job in store.sweep_jobs(sweep_id) if job.status == "running"}
        return bool(holders - seen)

    exits, seen, started = [], set(), []
    try:
        for restart in range(7):
            worker = start_worker(env, f"r{restart}", tmp_path / f"r{restart}.log")
            started.append(worker)
            before = stored()
            # Most after some progress; every third as soon as it holds a job (its data loading).
            wait_until(lambda s=seen: new_holder(s), 120, "the new worker to claim a job")
            if restart % 3 != 2:
                wait_until(lambda b=before: stored() > b, 120, "an epoch more")
            seen |= {job.worker for job in store.sweep_jobs(sweep_id) if job.worker}
            os.kill(worker.pid, signal.SIGTERM)  # what `docker stop` sends to the main process
            exits.append(worker.wait(timeout=120))
        started.append(start_worker(env, "last", tmp_path / "last.log"))
        waited = run_cli(env, "watch", "restarts", timeout=300)
    finally:
        for process in started:
            stop_process(process)
    assert exits == [0] * 7
    assert waited.returncode == 0, waited.stdout + waited.stderr
    jobs = store.sweep_jobs(sweep_id)
    assert [job.status for job in jobs] == ["succeeded"] * 4
    assert all(job.lost_attempts == 0 for job in jobs)
    for job in jobs:
        assert epochs_of(store, job.job_id) == list(range(1, epochs + 1))
    print(f"\nseven graceful restarts: starts per job {[job.attempts for job in jobs]}")


def test_a_restart_at_a_rung_changes_no_stopping_decision(worker_env, tmp_path):
    """The same grid stops the same jobs whether or not its worker restarted right at a rung:
    the decision is taken with the rung's epoch, in one transaction, so no hand-back skips it."""
    env = worker_env
    grid = tmp_path / "rung.toml"
    grid.write_text(
        pair_grid("rung", "[0.01, 0.03, 0.1, 0.3, 1, 3]", epochs=4, fuse=True)
        + '[stop]\nrule = "asha"\ngrace = 1\nreduction = 3\n'
    )  # one stack of six; rungs at epochs 1 and 3
    store = Store(env["MNISTGRID_DATABASE_URL"])

    def outcome(name: str) -> dict[float, tuple[str, int]]:
        jobs = store.sweep_jobs(store.get_sweep(name).sweep_id)
        return {job.lr: (job.status, len(epochs_of(store, job.job_id))) for job in jobs}

    quiet_worker = start_worker(env, "quiet", tmp_path / "quiet.log")
    try:
        assert run_cli(env, "submit", str(grid), "--name", "quiet", "--wait").returncode == 0
    finally:
        stop_process(quiet_worker)

    marker = tmp_path / "terminated"
    hooked = {**env, "PYTHONPATH": str(HOOKS), "MNISTGRID_TEST_TERM_AT_EPOCH": f"1:{marker}"}
    started = [start_worker(hooked, "first", tmp_path / "first.log")]
    try:
        assert run_cli(env, "submit", str(grid), "--name", "restarted").returncode == 0
        assert started[0].wait(timeout=180) == 0 and marker.exists()
        started.append(start_worker(hooked, "second", tmp_path / "second.log"))
        assert run_cli(env, "watch", "restarted", timeout=300).returncode == 0
    finally:
        for process in started:
            stop_process(process)
    restarted = outcome("restarted")
    assert restarted == outcome("quiet")
    assert sum(status == "stopped" for status, _ in restarted.values()) >= 3
