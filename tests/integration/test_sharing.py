"""A stack shares its members with idle workers at an epoch boundary (db/sharing.py): in the
store on SQLite and PostgreSQL (how it splits, and when it does not), then with two real
workers, where a sweep's one stack ends up trained on both, every epoch once, each job with
the accuracy it has trained alone.

    python -m pytest tests/integration/test_sharing.py
"""

from __future__ import annotations

from pathlib import Path

import pytest

from db.records import EpochRow, EpochWrite, NewJob, ShareCheck
from db.store import Store
from mnistgrid.core.training import train_jobs
from mnistgrid.data.datasets import load_task
from mnistgrid.spec import JobSpec
from tests.integration.services import (
    epochs_of,
    mnistgrid_env,
    private_redis_db,
    run_cli,
    wait_until,
    workers,
)

pytestmark = pytest.mark.integration

EPOCHS = 4
SHARE = ShareCheck("cpu", EPOCHS)
GRID = {"train": {"time_limit": 60, "device": "cpu"}}


def one_stack(store: Store, lrs: list[float]) -> list[int]:
    """A sweep of one stack of linear jobs, one per lr, claimed by worker `w1`."""
    jobs = []
    for lr in lrs:
        spec = JobSpec(model="linear", lr=lr, epochs=EPOCHS)
        jobs.append(
            NewJob(spec.key(), spec.model_dump(mode="json"), "linear", spec.loss, lr, "stack")
        )
    sweep_id = store.create_sweep("shared", GRID, "shared", jobs).sweep_id
    job_ids = [job.job_id for job in store.sweep_jobs(sweep_id)]
    assert len(store.claim_jobs(job_ids, "w1", 60).claims) == len(lrs)
    store.check_in_worker("w1@host", ["cpu"], slots=1, seconds=60)
    return job_ids


def record(store: Store, job_ids: list[int], epoch: int, share: ShareCheck | None = SHARE):
    rows = [
        EpochWrite(j, EpochRow(epoch, 0.5, 0.5, 0.9, (0.9,) * 10, 0.1), b"ckpt") for j in job_ids
    ]
    return store.record_epochs("w1", rows, share=share)


def test_a_stack_hands_a_part_to_each_idle_slot(store: Store) -> None:
    jobs = one_stack(store, [0.1, 0.2, 0.3, 0.4])
    store.check_in_worker("two@host", ["cpu", "report"], slots=2, seconds=60)
    store.check_in_worker("gpu@host", ["gpu"], slots=4, seconds=60)  # not the stack's queue
    recorded = record(store, jobs, 1)
    # Two idle cpu slots: three parts, one kept, each other a stack of one.
    assert recorded.keep_training and recorded.shared == (jobs[1], jobs[2])
    kept = [store.get_job(j) for j in (jobs[0], jobs[3])]
    assert [(j.status, j.worker) for j in kept] == [("running", "w1")] * 2
    for job_id in recorded.shared:
        job = store.get_job(job_id)
        assert (job.status, job.worker, job.group_key, job.lease_until) == ("queued", *[None] * 3)
        assert epochs_of(store, job_id) == [1]
        assert store.checkpoint(job_id).epoch == 1
    # The next worker resumes a shared job from the epoch it was handed back at, at no cost.
    taken = store.claim_jobs([jobs[1]], "w2", 60).claims[0]
    assert taken.checkpoint is not None and taken.checkpoint.epoch == 1
    assert store.get_job(jobs[1]).lost_attempts == 0


def test_a_part_of_several_members_goes_on_as_a_stack_of_its_own(store: Store) -> None:
    jobs = one_stack(store, [0.1, 0.2, 0.3, 0.4, 0.5])
    store.check_in_worker("two@host", ["cpu"], slots=1, seconds=60)
    recorded = record(store, jobs, 1)
    assert recorded.shared == (jobs[1], jobs[3])
    keys = {store.get_job(j).group_key for j in recorded.shared}
    assert len(keys) == 1 and keys != {None} and keys != {"stack"}
    # The slot is taken now (its part waits in the queue): the rest stays whole.
    assert record(store, [jobs[0], jobs[2], jobs[4]], 2).shared == ()


@pytest.mark.parametrize(
    "why",
    ["no idle slot", "a stack waits", "a worker's check-in ran out", "one epoch left", "unasked"],
)
def test_a_stack_stays_whole(store: Store, why: str) -> None:
    jobs = one_stack(store, [0.1, 0.2, 0.3, 0.4])
    epoch, share = 1, SHARE
    if why != "no idle slot":
        store.check_in_worker(
            "two@host", ["cpu"], slots=1, seconds=0.05 if "ran out" in why else 60
        )
    if why == "a stack waits":
        spec = JobSpec(model="mlp", lr=1.0, epochs=EPOCHS)
        waiting = NewJob(spec.key(), spec.model_dump(mode="json"), "mlp", spec.loss, 1.0, None)
        store.create_sweep("waiting", GRID, "waiting", [waiting])
    if why == "a worker's check-in ran out":
        gone = lambda: not any(w.name == "two@host" for w in store.live_workers())  # noqa: E731
        wait_until(gone, 5, "the check-in to run out")
    if why == "one epoch left":
        epoch = EPOCHS - 1
    if why == "unasked":
        share = None
    recorded = record(store, jobs, epoch, share)
    assert recorded.keep_training and recorded.shared == ()
    assert {store.get_job(j).status for j in jobs} == {"running"}


STACK_GRID = """
name = "shared"
[data]
digits = [3, 7]
[train]
epochs = 6
[grid]
model = "linear"
loss = "cross_entropy"
lr = [0.1, 0.2, 0.5, 1.0]
batch_size = 64
"""
# Accuracy of a job trained alone from the same start: the fused tests' tolerance.
ACCURACY_TOLERANCE = 2 / 2000


@pytest.fixture
def env(mnist_dir, tmp_path):
    with private_redis_db() as redis_url:
        yield mnistgrid_env(
            broker_url=redis_url,
            database_url=f"sqlite:///{tmp_path / 'shared.db'}",
            data_dir=str(mnist_dir),
            lease_seconds="3",
            reports_dir=str(tmp_path / "reports"),
        )


def submit_to_two_workers(env: dict[str, str], tmp_path: Path) -> list:
    """The sweep of one stack, submitted once both workers are on the roster; its jobs."""
    store = Store(env["MNISTGRID_DATABASE_URL"])
    grid = tmp_path / "shared.toml"
    grid.write_text(STACK_GRID)
    with workers(env, tmp_path):
        wait_until(lambda: len(store.live_workers()) == 2, 60, "two workers on the roster")
        assert run_cli(env, "submit", str(grid), "--wait").returncode == 0
    jobs = store.sweep_jobs(store.get_sweep("shared").sweep_id)
    assert [job.status for job in jobs] == ["succeeded"] * 4
    for job in jobs:
        assert epochs_of(store, job.job_id) == list(range(1, 7))  # each epoch once
    return jobs


def test_two_workers_share_a_sweeps_one_stack(env, tmp_path, mnist_dir):
    jobs = submit_to_two_workers(env, tmp_path)
    # One stack was planned; the idle worker took half of it at the first epoch boundary (and
    # either may take part of the other's later, when it ends first).
    assert len({job.worker for job in jobs}) == 2
    assert len({job.group_key for job in jobs}) >= 2
    logs = "".join(path.read_text() for path in tmp_path.glob("worker*.log"))
    assert "shared jobs" in logs
    for job in jobs:
        spec = JobSpec.model_validate(job.params)
        data = load_task(mnist_dir, Path.home() / ".cache" / "mnistgrid", spec.data)
        assert abs(job.final_acc - train_jobs([spec], data)[0].final.valid_acc) <= (
            ACCURACY_TOLERANCE
        )


def test_workers_told_not_to_share_keep_the_stack_whole(env, tmp_path):
    jobs = submit_to_two_workers({**env, "MNISTGRID_SHARE_STACKS": "false"}, tmp_path)
    assert len({job.worker for job in jobs}) == 1
    assert len({job.group_key for job in jobs}) == 1
    assert not any("shared jobs" in path.read_text() for path in tmp_path.glob("worker*.log"))
