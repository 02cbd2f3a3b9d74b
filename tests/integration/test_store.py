"""The store's contract, run against SQLite and PostgreSQL alike (the `database_url` fixture).

python -m pytest tests/integration/test_store.py
"""

from __future__ import annotations

import math
import multiprocessing
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import CheckConstraint, event, exc, inspect, text

from db import epochs as db_epochs
from db import leases as db_leases
from db.engine import make_engine
from db.errors import DatabaseUnavailable, SchemaAhead, SchemaBehind
from db.migrate import current_revision, downgrade, head_revision, upgrade
from db.models import Base
from db.records import EpochRow, EpochWrite, NewJob, Recorded, StopCheck
from db.store import STAMP_LAG_SECONDS, Store
from mnistgrid.errors import BadInput, NotFound
from mnistgrid.spec import JobSpec, StopSpec

pytestmark = pytest.mark.integration

GRID = {"name": "lrs", "models": ["linear"], "lr": [0.1, 1.0]}
MNISTGRID = Path(sys.executable).with_name("mnistgrid")


def make_jobs(n: int, group_key: str | None = None) -> list[NewJob]:
    specs = [JobSpec(model="linear", lr=0.5, seed=seed, epochs=40) for seed in range(n)]
    return [
        NewJob(s.key(), s.model_dump(mode="json"), s.model, s.loss, s.lr, group_key) for s in specs
    ]


def epoch(n: int, acc: float = 0.5, train_loss: float | None = 0.25) -> EpochRow:
    return EpochRow(n, train_loss, 0.3, acc, [acc] * 10, 0.01)


def new_sweep(store: Store, n_jobs: int = 3, name: str = "lrs") -> tuple[int, list[int]]:
    sweep_id = store.create_sweep(name, GRID, "hash-a", make_jobs(n_jobs)).sweep_id
    return sweep_id, [job.job_id for job in store.sweep_jobs(sweep_id)]


def rows(store: Store, query: str, **params: Any) -> list[tuple[Any, ...]]:
    with store.engine.connect() as connection:
        return [tuple(row) for row in connection.execute(text(query), params)]


def same_float(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return (math.isnan(a) and math.isnan(b)) or a == b


# -- sweeps ---------------------------------------------------------------------------------


def test_create_sweep_writes_sweep_and_jobs(store: Store) -> None:
    jobs = make_jobs(1000, group_key="g1")
    created = store.create_sweep("lrs", GRID, "hash-a", jobs)
    assert created.created and created.name == "lrs"

    sweep = store.get_sweep("lrs")
    assert sweep == store.get_sweep(created.sweep_id) == store.get_sweep(str(created.sweep_id))
    assert (sweep.status, sweep.grid, sweep.grid_hash, sweep.finished_at) == (
        "queued",
        GRID,
        "hash-a",
        None,
    )
    assert sweep.counts["queued"] == sweep.n_jobs == 1000
    assert sweep.created_at.tzinfo is not None

    listed = store.sweep_jobs(created.sweep_id)
    assert [job.key for job in listed] == [job.key for job in jobs]
    first = listed[0]
    assert (first.model, first.loss, first.lr, first.group_key) == (
        "linear",
        "cross_entropy",
        0.5,
        "g1",
    )
    assert (first.status, first.attempts, first.last_epoch, first.last_valid_acc) == (
        "queued",
        0,
        None,
        None,
    )
    assert JobSpec.model_validate(first.params) == JobSpec(model="linear", lr=0.5, epochs=40)
    assert [s.name for s in store.list_sweeps()] == ["lrs"]


def test_same_name_and_grid_returns_the_existing_sweep(store: Store) -> None:
    first = store.create_sweep("lrs", GRID, "hash-a", make_jobs(3))
    again = store.create_sweep("lrs", GRID, "hash-a", make_jobs(5), new=True)
    assert (again.sweep_id, again.name, again.created) == (first.sweep_id, "lrs", False)
    assert store.get_sweep("lrs").n_jobs == 3
    assert len(store.list_sweeps()) == 1


def test_same_name_other_grid_needs_new(store: Store) -> None:
    store.create_sweep("lrs", GRID, "hash-a", make_jobs(3))
    with pytest.raises(BadInput, match="sweep lrs exists with a different grid; use --new"):
        store.create_sweep("lrs", {"other": 1}, "hash-b", make_jobs(2))
    assert len(store.list_sweeps()) == 1

    second = store.create_sweep("lrs", {"other": 1}, "hash-b", make_jobs(2), new=True)
    third = store.create_sweep("lrs", {"other": 2}, "hash-c", make_jobs(1), new=True)
    assert (second.name, second.created, third.name) == ("lrs-2", True, "lrs-3")
    assert store.get_sweep("lrs-2").n_jobs == 2
    assert store.get_sweep("lrs-3").grid == {"other": 2}


def test_duplicate_job_keys_are_refused(store: Store) -> None:
    with pytest.raises(BadInput, match="same configuration"):
        store.create_sweep("lrs", GRID, "hash-a", make_jobs(2) * 2)
    assert store.list_sweeps() == []


def test_unknown_sweep_and_job(store: Store) -> None:
    with pytest.raises(NotFound, match="no sweep 'nope'"):
        store.get_sweep("nope")
    with pytest.raises(NotFound, match="no sweep '42'"):
        store.sweep_jobs(42)
    with pytest.raises(NotFound, match="no sweep '42'"):
        store.sweep_status(42)
    with pytest.raises(NotFound, match="no job 7"):
        store.get_job(7)
    assert store.claim_job(7, "w1", 60) is None


def _create_in_child(url: str, grid_hash: str, new: bool, barrier: Any, results: Any) -> None:
    with Store(url) as store:
        barrier.wait()
        created = store.create_sweep("race", {"h": grid_hash}, grid_hash, make_jobs(300), new=new)
        results.put((created.sweep_id, created.name, created.created))


def run_children(target: Any, args_per_child: list[tuple[Any, ...]]) -> list[Any]:
    """Start the children together (spawn: no inherited connections), return what they put."""
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(len(args_per_child)), context.Queue()
    children = [
        context.Process(target=target, args=(*args, barrier, results)) for args in args_per_child
    ]
    for child in children:
        child.start()
    outputs = [results.get(timeout=180) for _ in children]
    for child in children:
        child.join(timeout=60)
        assert child.exitcode == 0
    return outputs


def test_concurrent_create_makes_one_sweep(database_url: str, store: Store) -> None:
    outputs = run_children(_create_in_child, [(database_url, "h", False)] * 2)
    assert len({sweep_id for sweep_id, _, _ in outputs}) == 1
    assert sorted(created for _, _, created in outputs) == [False, True]
    assert [s.n_jobs for s in store.list_sweeps()] == [300]


def test_concurrent_new_sweeps_take_distinct_names(database_url: str, store: Store) -> None:
    outputs = run_children(
        _create_in_child, [(database_url, "h1", True), (database_url, "h2", True)]
    )
    assert sorted(name for _, name, _ in outputs) == ["race", "race-2"]
    assert [s.n_jobs for s in store.list_sweeps()] == [300, 300]


# -- claims and leases ----------------------------------------------------------------------


def test_claim_takes_a_queued_job(store: Store) -> None:
    sweep_id, (job_id, *_) = new_sweep(store)
    assert store.sweep_status(sweep_id) == "queued"
    claim = store.claim_job(job_id, "w1", 60)
    assert claim is not None
    assert (claim.job_id, claim.sweep_id, claim.attempt, claim.checkpoint) == (
        job_id,
        sweep_id,
        1,
        None,
    )
    assert JobSpec.model_validate(claim.spec).seed == 0
    job = store.get_job(job_id)
    assert (job.status, job.attempts, job.lost_attempts, job.worker) == ("running", 1, 0, "w1")
    assert job.started_at is not None and job.heartbeat_at is not None
    # The holder's lease, in the row: 60 s from its heartbeat.
    assert 59 <= (job.lease_until - job.heartbeat_at).total_seconds() <= 61
    assert store.get_sweep(sweep_id).status == "running"
    assert store.sweep_status(sweep_id) == "running"


def _claim_in_child(url: str, job_id: int, worker: str, barrier: Any, results: Any) -> None:
    with Store(url) as store:
        barrier.wait()
        claim = store.claim_job(job_id, worker, 3600)
        results.put(None if claim is None else (worker, claim.attempt))


def test_concurrent_claims_give_the_job_to_one_worker(database_url: str, store: Store) -> None:
    _, (job_id, *_) = new_sweep(store)
    outputs = run_children(_claim_in_child, [(database_url, job_id, f"w{n}") for n in range(4)])
    (winner,) = [output for output in outputs if output is not None]
    assert winner[1] == 1
    job = store.get_job(job_id)
    assert (job.worker, job.attempts) == (winner[0], 1)


def test_claim_rules(store: Store) -> None:
    _, (job_id, *_) = new_sweep(store)
    first = store.claim_job(job_id, "w1", 3600)
    assert first is not None and first.attempt == 1
    started = store.get_job(job_id).started_at

    # A duplicate delivery to another worker while the lease is live: nothing to do, however
    # short that worker's own lease setting is.
    assert store.claim_job(job_id, "w2", 0) is None
    assert store.get_job(job_id).attempts == 1
    # The same worker process again (a retry of its own task): it takes the job back.
    again = store.claim_job(job_id, "w1", 0)  # ... now on a lease that is over at once
    assert again is not None and again.attempt == 2
    # Its lease ran out: another worker takes it over.
    taken = store.claim_job(job_id, "w2", 3600)
    assert taken is not None and taken.attempt == 3
    job = store.get_job(job_id)
    assert (job.worker, job.attempts, job.lost_attempts, job.started_at) == (
        "w2",
        3,
        1,  # w1's last start stored nothing: it counts against the job
        started,
    )
    # The old holder learns at its next heartbeat, and its writes are refused.
    assert store.heartbeat(job_id, "w1") is False
    assert store.record_epoch(job_id, "w1", epoch(1)) is False
    assert store.epochs(job_id) == []
    assert store.heartbeat(job_id, "w2") is True


def test_a_replaced_worker_cannot_end_or_write_the_job(store: Store) -> None:
    """Only the holder of a running job may end it or write to it (finding 1)."""
    sweep_id, (job_id, *_) = new_sweep(store)
    store.claim_job(job_id, "old", 0)  # its lease runs out at once
    store.claim_job(job_id, "new", 3600)  # taken over
    store.record_epoch(job_id, "new", epoch(1, acc=0.7))
    for status in ("diverged", "failed", "stopped", "cancelled", "succeeded"):
        assert not store.finish_job(job_id, status, worker="old", error="late")
    assert store.set_run_info(job_id, "old", {"seed": 9}, "cuda:0") is False
    writes = [EpochWrite(job_id, epoch(2), b"x", diverged=True)]
    assert not store.record_epochs("old", writes).keep_training
    assert store.release_jobs([job_id], "old") == []
    job = store.get_job(job_id)
    assert (job.status, job.worker, job.run_info, job.last_epoch) == ("running", "new", None, 1)
    assert store.set_run_info(job_id, "new", {"seed": 0}, "cpu") is True
    done = store.finish_job(job_id, "succeeded", worker="new")
    assert done and done.sweep_id == sweep_id
    assert store.get_job(job_id).status == "succeeded"


def test_the_holders_lease_length_decides(store: Store) -> None:
    """A reader never judges a lease with its own setting (finding 4): the row says when the
    holder's lease ends."""
    sweep_id, (long_lease, short_lease, queued) = new_sweep(store)
    store.claim_job(long_lease, "slow-beats", 600)
    store.claim_job(short_lease, "fast-beats", 0.3)
    time.sleep(0.5)
    taken = store.take_over_lost_jobs(max_attempts=3)
    assert [job.job_id for job in taken.lost] == [short_lease]
    assert store.claim_job(long_lease, "reader", 0.1) is None
    assert store.requeue_unfinished(sweep_id) == [short_lease, queued]
    assert store.get_job(long_lease).status == "running"


def test_terminal_jobs_are_never_claimed(store: Store) -> None:
    _, job_ids = new_sweep(store, n_jobs=4)
    for job_id, status in zip(
        job_ids, ["succeeded", "diverged", "failed", "cancelled"], strict=True
    ):
        store.claim_job(job_id, "w1", 0)
        store.finish_job(job_id, status, worker="w1")
        assert store.claim_job(job_id, "w2", 60) is None
        assert store.get_job(job_id).status == status


def test_claim_in_cancelled_sweep_cancels_the_job(store: Store) -> None:
    sweep_id, (running, queued, lost) = new_sweep(store)
    store.claim_job(running, "w1", 3600)
    store.claim_job(lost, "dead", 0)
    store.cancel_sweep(sweep_id)
    assert store.claim_job(queued, "w2", 60) is None  # cancelled with the sweep
    # Held by a live worker: left to it (it sees the cancel at its next heartbeat).
    assert store.claim_job(running, "w2", 60) is None
    assert store.get_job(running).status == "running"
    # Its worker died: a redelivery finds the sweep cancelled and ends the job.
    assert store.claim_job(lost, "w2", 60) is None
    job = store.get_job(lost)
    assert (job.status, job.attempts) == ("cancelled", 1)
    assert job.finished_at is not None


def test_claim_jobs_takes_a_group(store: Store) -> None:
    _, job_ids = new_sweep(store, n_jobs=4)
    store.claim_job(job_ids[0], "w9", 60)
    store.claim_job(job_ids[1], "w1", 60)
    store.finish_job(job_ids[1], "succeeded", worker="w1")
    claimed = store.claim_jobs(list(reversed(job_ids)), "w1", 60)
    assert [c.job_id for c in claimed.claims] == job_ids[2:]
    assert all(c.attempt == 1 for c in claimed.claims)
    assert (claimed.gave_up, claimed.sweeps_ended) == ((), ())
    assert store.claim_jobs([], "w1", 60).claims == ()


def test_claim_resumes_from_the_checkpoint(store: Store) -> None:
    _, (job_id, *_) = new_sweep(store)
    store.claim_job(job_id, "w1", 60)
    store.record_epoch(job_id, "w1", epoch(1), checkpoint=b"state-1", lease_seconds=0)
    store.record_epoch(job_id, "w1", epoch(2), checkpoint=b"\x00state-2\xff", lease_seconds=0)
    store.record_epoch(job_id, "w1", epoch(3), lease_seconds=0)  # no checkpoint this epoch
    claim = store.claim_job(job_id, "w2", 60)
    assert claim is not None and claim.checkpoint is not None
    assert (claim.checkpoint.epoch, claim.checkpoint.state) == (2, b"\x00state-2\xff")
    assert rows(store, "SELECT count(*) FROM checkpoints") == [(1,)]
    job = store.get_job(job_id)
    assert job.lost_attempts == 0  # w1 stored epochs before it was lost: no charge


def test_release_hands_a_job_back_with_its_epochs(store: Store) -> None:
    _, (job_id, *_) = new_sweep(store)
    store.claim_job(job_id, "w1", 60)
    store.record_epoch(job_id, "w1", epoch(1), checkpoint=b"state-1")
    assert store.release_job(job_id, "w2") is False  # only its holder can
    assert store.release_job(job_id, "w1") is True
    released = store.get_job(job_id)
    assert (released.status, released.worker, released.last_epoch) == ("queued", None, 1)
    assert released.lease_until is None
    claim = store.claim_job(job_id, "w2", 60)  # at once: no lease to wait out
    assert claim is not None and claim.attempt == 2 and claim.checkpoint.epoch == 1
    store.finish_job(job_id, "succeeded", worker="w2")
    assert store.release_job(job_id, "w2") is False  # a finished job stays finished


def test_hand_backs_never_use_up_a_job(store: Store) -> None:
    """A graceful restart hands the job back at no cost, however often, even before it
    stored an epoch: seven restarts later it is still claimable and ends `succeeded`."""
    sweep_id, (job_id,) = new_sweep(store, n_jobs=1)
    for restart in range(7):
        claim = store.claim_job(job_id, f"w{restart}", 60, max_attempts=3)
        assert claim is not None and claim.attempt == restart + 1
        if restart % 2:
            store.record_epoch(job_id, f"w{restart}", epoch(restart), checkpoint=b"c")
        assert store.release_jobs([job_id], f"w{restart}") == [job_id]
    job = store.get_job(job_id)
    assert (job.status, job.attempts, job.lost_attempts) == ("queued", 7, 0)
    assert store.claim_job(job_id, "last", 60, max_attempts=3) is not None
    assert store.finish_job(job_id, "succeeded", worker="last").sweep_finished
    assert store.get_sweep(sweep_id).status == "finished"
    assert store.sweep_status(sweep_id) == "finished"


# -- healing --------------------------------------------------------------------------------


def test_an_expired_lease_is_taken_over_once(store: Store) -> None:
    sweep_id, (lost, alive, queued) = new_sweep(store)
    store.claim_job(lost, "dead:1", 0.2)
    store.claim_job(alive, "w2", 60)
    time.sleep(0.3)
    taken = store.take_over_lost_jobs(max_attempts=3)
    assert [(j.job_id, j.worker, j.lost_attempts, j.requeued) for j in taken.lost] == [
        (lost, "dead:1", 1, True)
    ]
    assert taken.requeued_by_sweep() == {sweep_id: [lost]} and taken.sweeps_ended == ()
    job = store.get_job(lost)
    # Queued again, with the lost worker's name kept as its last holder.
    assert (job.status, job.worker, job.heartbeat_at, job.lease_until) == (
        "queued",
        "dead:1",
        None,
        None,
    )
    assert (job.attempts, job.lost_attempts) == (1, 1)
    assert job.sent_at is not None
    assert store.take_over_lost_jobs(max_attempts=3).lost == ()  # taken already
    assert store.get_job(alive).status == "running"  # its lease is live
    assert store.get_job(queued).status == "queued"


def test_a_job_lost_too_often_fails_and_may_end_its_sweep(store: Store) -> None:
    sweep_id, (job_id,) = new_sweep(store, n_jobs=1)
    for attempt in (1, 2):
        store.claim_job(job_id, f"dead:{attempt}", 0, max_attempts=2)
        assert store.take_over_lost_jobs(max_attempts=2).lost[0].requeued is (attempt == 1)
    job = store.get_job(job_id)
    assert job.status == "failed" and job.finished_at is not None
    assert job.error == (
        "its worker was lost 2 times before it stored an epoch (last dead:2); gave up after 2 "
        "attempts (MNISTGRID_MAX_ATTEMPTS)"
    )
    sweep = store.get_sweep(sweep_id)
    assert sweep.status == "finished" and sweep.report_status == "requested"
    # `mnistgrid resume` forgives the losses: the job runs again, with a fresh budget.
    assert store.requeue_unfinished(sweep_id) == [job_id]
    again = store.get_job(job_id)
    assert (again.status, again.lost_attempts, again.error) == ("queued", 0, None)
    assert store.claim_job(job_id, "alive", 60, max_attempts=2) is not None


def test_only_losses_without_progress_count(store: Store) -> None:
    """A worker that dies after storing an epoch cost the job nothing; one that dies before
    (the job kills its worker) costs an attempt, and so does a redelivery that finds it lost."""
    _, (job_id,) = new_sweep(store, n_jobs=1)
    for n in range(1, 6):  # five deaths, each after one more epoch
        store.claim_job(job_id, f"dies-after-epoch:{n}", 0, max_attempts=2)
        store.record_epoch(job_id, f"dies-after-epoch:{n}", epoch(n), b"c", lease_seconds=0)
        assert store.take_over_lost_jobs(max_attempts=2).lost[0].requeued
    assert store.get_job(job_id).lost_attempts == 0
    store.claim_job(job_id, "dies-at-once", 0, max_attempts=2)
    claimed = store.claim_jobs([job_id], "redelivered", 60, max_attempts=2)
    assert claimed.claims[0].attempt == 7 and store.get_job(job_id).lost_attempts == 1
    store.release_jobs([job_id], "redelivered")
    store.claim_job(job_id, "dies-at-once-too", 0, max_attempts=2)
    # The redelivery that finds it lost a second time fails it instead of starting it.
    spent = store.claim_jobs([job_id], "redelivered-again", 60, max_attempts=2)
    assert (spent.claims, spent.gave_up) == ((), (job_id,))
    assert spent.sweeps_ended == (store.get_job(job_id).sweep_id,)
    failed = store.get_job(job_id)
    assert (failed.status, failed.lost_attempts) == ("failed", 2)
    assert "lost 2 times before it stored an epoch (last dies-at-once-too)" in failed.error


def _take_over_in_child(url: str, barrier: Any, results: Any) -> None:
    with Store(url) as store:
        barrier.wait()
        results.put([job.job_id for job in store.take_over_lost_jobs(3).lost])


def test_concurrent_reconcilers_take_each_lost_job_once(database_url: str, store: Store) -> None:
    _, job_ids = new_sweep(store, n_jobs=20)
    store.claim_jobs(job_ids, "dead:1", 0)
    outputs = run_children(_take_over_in_child, [(database_url,)] * 3)
    taken = sorted(job_id for output in outputs for job_id in output)
    assert taken == job_ids


def test_a_queued_job_with_an_old_message_is_marked_sent_once(store: Store) -> None:
    sweep_id, job_ids = new_sweep(store)
    assert store.queued_jobs_sent_before(60) == []  # sent at creation
    time.sleep(0.3)
    waiting = store.queued_jobs_sent_before(0.2, sweep_id)
    assert [job.job_id for job in waiting] == job_ids
    assert store.mark_sent_again(job_ids[:2], 0.2) == job_ids[:2]
    assert store.mark_sent_again(job_ids, 0.2) == job_ids[2:]  # the others were just sent
    assert store.queued_jobs_sent_before(0.2) == []


def test_a_queued_job_that_can_never_run_fails(store: Store) -> None:
    sweep_id, (bad, running) = new_sweep(store, n_jobs=2)
    store.claim_job(running, "w1", 60)
    assert store.fail_queued_job(running, "nope").applied is False  # only queued jobs
    done = store.fail_queued_job(bad, "its stored params no longer validate: lr: ...")
    assert done and not done.sweep_finished
    assert store.get_job(bad).status == "failed"
    store.finish_job(running, "succeeded", worker="w1")
    assert store.get_sweep(sweep_id).status == "finished"


def test_the_report_of_a_finished_sweep_is_requested_and_ended(store: Store) -> None:
    sweep_id, (job_id,) = new_sweep(store, n_jobs=1)
    assert store.get_sweep(sweep_id).report_status is None
    store.claim_job(job_id, "w1", 60)
    assert store.finish_job(job_id, "succeeded", worker="w1").sweep_finished
    asked = store.get_sweep(sweep_id)
    assert asked.report_status == "requested" and asked.report_at is not None
    assert store.reports_requested_before(60) == []
    time.sleep(0.3)
    assert store.reports_requested_before(0.2) == [sweep_id]
    assert store.mark_report_requested(sweep_id, older_than=0.2)
    assert not store.mark_report_requested(sweep_id, older_than=0.2)  # one reconcile asks
    store.end_report(sweep_id, error="PermissionError: reports")
    failed = store.get_sweep(sweep_id)
    assert (failed.report_status, failed.report_error) == ("failed", "PermissionError: reports")
    store.end_report(sweep_id)
    assert store.get_sweep(sweep_id).report_status == "written"
    assert store.reports_requested_before(0) == []


def test_resuming_a_sweep_forgets_its_old_report(store: Store) -> None:
    sweep_id, (job_id,) = new_sweep(store, n_jobs=1)
    store.claim_job(job_id, "w1", 60)
    store.finish_job(job_id, "failed", worker="w1", error="boom")
    store.end_report(sweep_id)
    assert store.requeue_unfinished(sweep_id) == [job_id]
    sweep = store.get_sweep(sweep_id)
    assert (sweep.status, sweep.report_status) == ("queued", None)


# -- epochs ---------------------------------------------------------------------------------


def test_record_epoch_is_idempotent(store: Store) -> None:
    _, (job_id, *_) = new_sweep(store)
    store.claim_job(job_id, "w1", 60)
    for n in (1, 2, 3):
        assert store.record_epoch(job_id, "w1", epoch(n, acc=0.5)) is True
    assert store.record_epoch(job_id, "w1", epoch(3, acc=0.9), checkpoint=b"c3") is True
    assert store.record_epoch(job_id, "w1", epoch(3, acc=0.8), checkpoint=b"c3b") is True

    stored = store.epochs(job_id)
    assert [r.epoch for r in stored] == [1, 2, 3]
    assert stored[2] == epoch(3, acc=0.8)
    assert rows(store, "SELECT count(*) FROM epochs WHERE epoch = 3") == [(1,)]
    assert rows(store, "SELECT epoch, state FROM checkpoints") == [(3, b"c3b")]
    job = store.get_job(job_id)
    assert (job.last_epoch, job.last_valid_acc) == (3, 0.8)


def test_a_stack_records_in_one_call(store: Store) -> None:
    sweep_id, (a, b, c) = new_sweep(store)
    store.claim_jobs([a, b, c], "w1", 60)
    writes = [
        EpochWrite(a, epoch(1, acc=0.5), b"a1"),
        EpochWrite(b, EpochRow(1, math.nan, math.nan, 0.1, [0.1] * 10, 0.01), None, True),
        EpochWrite(c, epoch(1, acc=0.6), b"c1"),
    ]
    recorded = store.record_epochs("w1", writes, lease_seconds=60)
    assert recorded == Recorded(keep_training=True, diverged=(b,))
    jobs = {job.job_id: job for job in store.sweep_jobs(sweep_id)}
    assert [jobs[j].status for j in (a, b, c)] == ["running", "diverged", "running"]
    assert (jobs[b].final_acc, jobs[b].best_epoch) == (0.1, 1)
    assert rows(store, "SELECT job_id, epoch FROM checkpoints ORDER BY job_id") == [
        (a, 1),
        (c, 1),
    ]
    store.cancel_sweep(sweep_id)
    assert not store.record_epochs("w1", writes[::2]).keep_training


def test_cancelling_one_sweep_stops_its_jobs_and_no_others(store: Store) -> None:
    """Each job's epoch write and lease renewal see its own sweep's status, whichever sweep
    is first in the table (on SQLite, RETURNING once compared sweeps.sweep_id with itself)."""
    first, (a,) = new_sweep(store, 1, "first")
    second, (b,) = new_sweep(store, 1, "second")
    third, (c,) = new_sweep(store, 1, "third")
    store.claim_jobs([a, b, c], "w1", 60)
    store.cancel_sweep(second)
    assert not store.record_epochs("w1", [EpochWrite(b, epoch(1), b"b1")]).keep_training
    for job_id in (a, c):
        assert store.record_epochs("w1", [EpochWrite(job_id, epoch(1), None)]).keep_training
    assert store.renew_leases([a, b, c], "w1") == {a, c}
    store.cancel_sweep(first)
    assert store.record_epochs("w1", [EpochWrite(c, epoch(2), None)]).keep_training
    assert store.renew_leases([a, b, c], "w1") == {c}


def test_a_stack_records_an_epoch_again_over_the_first(store: Store) -> None:
    """A stack that trains an epoch again (resumed from the checkpoint before it) replaces each
    member's row and checkpoint of that epoch, and stamps them anew."""
    _, (a, b, c) = new_sweep(store)
    store.claim_jobs([a, b, c], "w1", 60)
    store.record_epochs("w1", [EpochWrite(j, epoch(1, acc=0.5), b"first") for j in (a, b, c)])
    before = rows(store, "SELECT job_id, saved_at FROM checkpoints ORDER BY job_id")
    again = [EpochWrite(j, epoch(1, acc=0.6 + j / 100), f"again {j}".encode()) for j in (a, b, c)]
    assert store.record_epochs("w1", again).keep_training
    assert [(j, [r.valid_acc for r in store.epochs(j)]) for j in (a, b, c)] == [
        (j, [0.6 + j / 100]) for j in (a, b, c)
    ]
    after = rows(store, "SELECT job_id, state, saved_at FROM checkpoints ORDER BY job_id")
    assert [(j, bytes(state)) for j, state, _ in after] == [
        (j, f"again {j}".encode()) for j in (a, b, c)
    ]
    assert all(new > old for (_, old), (_, _, new) in zip(before, after, strict=True))


def test_the_stopping_rule_decides_in_the_recording_transaction(store: Store) -> None:
    """A rung's decision is made with the epoch that reaches it: no restart can skip it."""
    sweep_id, (a, b, c) = new_sweep(store)
    store.claim_jobs([a, b, c], "w1", 60)
    rule = StopSpec(rule="asha", grace=1, reduction=3)
    check = StopCheck(sweep_id, rule, epochs=9)
    accs = {a: 0.3, b: 0.9, c: 0.5}
    writes = [EpochWrite(j, epoch(1, acc=acc), b"x") for j, acc in accs.items()]
    recorded = store.record_epochs("w1", writes, stop=check)
    assert recorded.stopped == (a, c) and recorded.keep_training
    jobs = {job.job_id: job for job in store.sweep_jobs(sweep_id)}
    assert [jobs[j].status for j in (a, b, c)] == ["stopped", "running", "stopped"]
    assert jobs[a].final_acc == 0.3
    # Epoch 2 is no rung of grace 1, reduction 3: nothing is decided there.
    assert store.record_epochs("w1", [EpochWrite(b, epoch(2), b"y")], stop=check).stopped == ()


def test_other_floats_must_be_finite(store: Store) -> None:
    _, (job_id, *_) = new_sweep(store)
    store.claim_job(job_id, "w1", 60)
    with pytest.raises(ValueError, match="valid_acc"):
        store.record_epoch(job_id, "w1", EpochRow(1, 0.1, 0.1, math.nan, [], 1.0))
    with pytest.raises(ValueError):  # NaN is not JSON, on either backend
        store.set_run_info(job_id, "w1", {"loss": math.nan}, "cpu")
    assert store.get_job(job_id).status == "running"


def test_epoch_and_checkpoint_commit_together(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, (job_id, *_) = new_sweep(store)
    store.claim_job(job_id, "w1", 60)
    store.record_epoch(job_id, "w1", epoch(1), checkpoint=b"one")
    original = db_epochs.upsert

    def checkpoint_fails(session: Any, clock: Any, model: Any, rows: Any, **kwargs: Any) -> None:
        if model.__tablename__ == "checkpoints":
            raise RuntimeError("disk full")
        original(session, clock, model, rows, **kwargs)

    monkeypatch.setattr(db_epochs, "upsert", checkpoint_fails)
    with pytest.raises(RuntimeError, match="disk full"):
        store.record_epoch(job_id, "w1", epoch(2), checkpoint=b"two")
    assert [r.epoch for r in store.epochs(job_id)] == [1]
    assert rows(store, "SELECT epoch, state FROM checkpoints") == [(1, b"one")]


def test_status_query_and_sweep_epochs(store: Store) -> None:
    sweep_id, (a, b, c) = new_sweep(store)
    store.claim_jobs([a, b], "w1", 60)
    for n in range(1, 6):
        store.record_epoch(a, "w1", epoch(n, acc=n / 10))
    store.record_epoch(b, "w1", epoch(1, acc=0.7))
    store.record_epoch(a, "w1", epoch(2, acc=0.99))  # a rewrite does not move the last epoch
    store.finish_job(b, "failed", worker="w1", error="boom")

    jobs = {job.job_id: job for job in store.sweep_jobs(sweep_id)}
    assert (jobs[a].last_epoch, jobs[a].last_valid_acc, jobs[a].status) == (5, 0.5, "running")
    assert (jobs[b].last_epoch, jobs[b].status, jobs[b].error) == (1, "failed", "boom")
    assert (jobs[c].last_epoch, jobs[c].last_valid_acc) == (None, None)

    epochs = store.sweep_epochs(sweep_id)
    assert list(epochs) == [a, b, c]
    assert [r.valid_acc for r in epochs[a]] == [0.1, 0.99, 0.3, 0.4, 0.5]
    assert epochs[c] == []
    assert epochs[a] == store.epochs(a)


def test_epochs_after_an_epoch(store: Store) -> None:
    _, (a, _, _) = new_sweep(store)
    store.claim_job(a, "w1", 60)
    for n in range(1, 5):
        store.record_epoch(a, "w1", epoch(n, acc=n / 10))
    assert [r.epoch for r in store.epochs(a, after=2)] == [3, 4]
    assert store.epochs(a, after=4) == []


def test_sweep_changes_reads_what_was_written_since(store: Store) -> None:
    sweep_id, (a, b, c) = new_sweep(store)
    store.claim_jobs([a], "w1", 60)
    store.claim_jobs([b, c], "w2", 0.5)
    store.record_epoch(a, "w1", epoch(1))
    everything = store.sweep_changes(sweep_id, None)
    assert [job.job_id for job in everything.jobs] == [a, b, c]
    assert [(p.job_id, p.epoch, p.fresh) for p in everything.points] == [(a, 1, True)]

    time.sleep(STAMP_LAG_SECONDS + 0.2)  # what came before is now older than the lag
    store.heartbeat(a, "w1")  # b and c stay silent, and their leases run out
    cursor = store.sweep_changes(sweep_id, None).read_at
    store.record_epoch(a, "w1", epoch(2))
    changes = store.sweep_changes(sweep_id, cursor)
    assert changes.read_at > cursor
    assert [job.job_id for job in changes.jobs] == [a, b, c]  # a wrote; b and c are lost
    assert [(p.epoch, p.fresh) for p in changes.points] == [(1, False), (2, True)]
    store.claim_jobs([b, c], "w3", 60)  # taken over: live again
    time.sleep(STAMP_LAG_SECONDS + 0.2)
    cursor = store.sweep_changes(sweep_id, None).read_at
    assert [job.job_id for job in store.sweep_changes(sweep_id, cursor).jobs] == []
    with pytest.raises(NotFound):
        store.sweep_changes(sweep_id + 1, None)


# -- finishing, cancelling, requeueing ------------------------------------------------------


def test_finish_is_forward_only_and_sums_up_the_epochs(store: Store) -> None:
    sweep_id, (job_id, other, _) = new_sweep(store)
    store.claim_jobs([job_id, other], "w1", 60)
    store.set_run_info(job_id, "w1", {"seed": 0, "torch": "2.x"}, "cpu")
    for n, acc in enumerate([0.5, 0.95, 0.9], start=1):
        store.record_epoch(job_id, "w1", EpochRow(n, 0.2, 0.3, acc, [acc] * 10, 4.25))
    done = store.finish_job(job_id, "succeeded", worker="w1")
    assert done and (done.applied, done.sweep_finished, done.sweep_id) == (True, False, sweep_id)
    again = store.finish_job(job_id, "failed", worker="w1", error="late")
    assert not again and again.sweep_finished is False

    job = store.get_job(job_id)
    assert (job.status, job.error, job.final_acc, job.best_acc, job.best_epoch) == (
        "succeeded",
        None,
        0.9,
        0.95,
        2,
    )
    assert (job.train_seconds, job.device, job.run_info) == (
        12.75,
        "cpu",
        {"seed": 0, "torch": "2.x"},
    )
    assert job.finished_at is not None and job.lease_until is None
    assert store.heartbeat(job_id, "w1") is False
    assert store.record_epoch(job_id, "w1", epoch(9)) is False
    # Without epochs there is nothing to sum up.
    assert store.finish_job(other, "failed", worker="w1", error="gave up").applied
    assert store.get_job(other).final_acc is None
    with pytest.raises(ValueError):
        store.finish_job(other, "running", worker="w1")
    with pytest.raises(NotFound):
        store.finish_job(999, "failed", worker="w1")


def test_sweep_finishes_with_its_last_job(store: Store) -> None:
    sweep_id, job_ids = new_sweep(store, n_jobs=4)
    store.claim_jobs(job_ids, "w1", 60)
    results = [
        store.finish_job(j, s, worker="w1")
        for j, s in zip(job_ids, ["succeeded", "stopped", "diverged", "failed"], strict=True)
    ]
    assert [r.sweep_finished for r in results] == [False, False, False, True]
    sweep = store.get_sweep(sweep_id)
    assert sweep.status == "finished" and sweep.finished_at is not None
    assert sweep.counts == {
        "queued": 0,
        "running": 0,
        "parked": 0,
        "succeeded": 1,
        "diverged": 1,
        "stopped": 1,
        "failed": 1,
        "cancelled": 0,
    }
    assert store.mark_sweep_running(sweep_id) is False


def test_a_stacks_members_end_together_and_only_the_holders(store: Store) -> None:
    """`finish_jobs` and `set_run_infos`: a stack's members in one transaction each, the held
    ones only; the sweep ends with the call that ends its last job, once."""
    sweep_id, (a, b, c, d) = new_sweep(store, n_jobs=4)
    store.claim_jobs([a, b, c], "w1", 60)
    store.claim_jobs([d], "w2", 60)
    commits: list[object] = []
    count = commits.append
    event.listen(store.engine, "commit", count)
    written = store.set_run_infos("w1", {a: {"seed": 1}, b: {"seed": 2}, d: {"seed": 4}}, "cpu")
    assert (written, len(commits)) == (2, 1)
    assert [store.get_job(j).run_info for j in (a, b, d)] == [{"seed": 1}, {"seed": 2}, None]
    for job_id, acc in ((a, 0.9), (b, 0.8)):
        store.record_epoch(job_id, "w1", EpochRow(1, 0.2, 0.3, acc, [acc] * 10, 1.0))

    commits.clear()
    assert store.finish_jobs([a, b, d], "succeeded", worker="w1") == []
    assert len(commits) == 1
    event.remove(store.engine, "commit", count)
    assert [store.get_job(j).status for j in (a, b, c, d)] == [
        "succeeded",
        "succeeded",
        "running",
        "running",
    ]
    assert (store.get_job(a).best_acc, store.get_job(b).best_acc) == (0.9, 0.8)
    with pytest.raises(ValueError):
        store.finish_jobs([c], "queued", worker="w1")
    assert store.get_job(c).status == "running"

    assert store.finish_jobs([d], "failed", worker="w2", error="no data") == []
    assert store.finish_jobs([c], "failed", worker="w1", error="no data") == [sweep_id]
    assert store.finish_jobs([c], "failed", worker="w1") == []
    assert (store.get_job(c).error, store.get_sweep(sweep_id).status) == ("no data", "finished")


def test_resume_leaves_a_stopped_job_stopped(store: Store) -> None:
    sweep_id, (stopped, failed) = new_sweep(store, n_jobs=2)
    store.claim_jobs([stopped, failed], "w1", 60)
    store.finish_job(stopped, "stopped", worker="w1")
    store.finish_job(failed, "failed", worker="w1", error="boom")
    assert store.requeue_unfinished(sweep_id) == [failed]
    assert store.get_job(stopped).status == "stopped"


def test_standings_at_an_epoch_and_best_so_far(store: Store) -> None:
    sweep_id, (a, b, c) = new_sweep(store)
    store.claim_jobs([a, b, c], "w1", 60)
    for job, accs in ((a, [0.5, 0.4, 0.45]), (b, [0.3, 0.6]), (c, [0.2])):
        for n, acc in enumerate(accs, start=1):
            store.record_epoch(job, "w1", epoch(n, acc=acc))
    at_two = store.standings(sweep_id, 2, "valid_acc")
    assert at_two == {a: ("linear", 0.4), b: ("linear", 0.6)}  # c has not reached epoch 2
    best = store.standings(sweep_id, 2, "valid_acc", best_so_far=True)
    assert best == {a: ("linear", 0.5), b: ("linear", 0.6)}
    lowest = store.standings(sweep_id, 2, "valid_loss", best_so_far=True, larger_is_better=False)
    assert lowest == {a: ("linear", 0.3), b: ("linear", 0.3)}


def test_cancel_and_requeue(store: Store) -> None:
    sweep_id, (running, queued, done, failed) = new_sweep(store, n_jobs=4)
    assert store.mark_sweep_running(sweep_id) is True
    store.claim_jobs([running, done, failed], "w1", 60)
    store.finish_job(done, "succeeded", worker="w1")
    store.finish_job(failed, "failed", worker="w1", error="boom")

    assert store.cancel_sweep(sweep_id) == 1
    sweep = store.get_sweep(sweep_id)
    assert sweep.status == "cancelled" and sweep.finished_at is not None
    assert store.get_job(queued).status == "cancelled"
    # The running job stops at its next heartbeat; its epoch is still kept.
    assert store.heartbeat(running, "w1") is False
    assert store.record_epoch(running, "w1", epoch(1)) is False
    assert len(store.epochs(running)) == 1
    assert store.finish_job(running, "cancelled", worker="w1").sweep_finished is False
    assert store.get_sweep(sweep_id).status == "cancelled"

    requeued = store.requeue_unfinished(sweep_id)
    assert requeued == [running, queued, failed]
    sweep = store.get_sweep(sweep_id)
    assert (sweep.status, sweep.finished_at) == ("queued", None)
    jobs = {job.job_id: job for job in store.sweep_jobs(sweep_id)}
    assert [jobs[j].status for j in (running, queued, done, failed)] == [
        "queued",
        "queued",
        "succeeded",
        "queued",
    ]
    again = jobs[failed]
    assert (again.attempts, again.worker, again.error, again.finished_at) == (1, None, None, None)
    claim = store.claim_job(failed, "w2", 60)
    assert claim is not None and claim.attempt == 2


def test_requeue_leaves_live_jobs_alone(store: Store) -> None:
    sweep_id, (live, lost) = new_sweep(store, n_jobs=2)
    store.claim_jobs([live], "w1", 3600)
    store.claim_jobs([lost], "w1", 0)
    assert store.requeue_unfinished(sweep_id) == [lost]
    assert store.get_sweep(sweep_id).status == "running"
    assert store.heartbeat(lost, "w1") is False  # the zombie holder lets go
    # Everything succeeded: nothing to requeue, the sweep is (again) finished.
    store.claim_jobs([lost], "w2", 60)
    store.finish_job(live, "succeeded", worker="w1")
    store.cancel_sweep(sweep_id)
    store.finish_job(lost, "succeeded", worker="w2")
    assert store.requeue_unfinished(sweep_id) == []
    assert store.get_sweep(sweep_id).status == "finished"


def _train_in_child(url: str, job_id: int, barrier: Any, results: Any) -> None:
    worker = f"w{job_id}"
    with Store(url) as store:
        assert store.claim_job(job_id, worker, 60) is not None
        barrier.wait()
        for n in range(1, 41):
            assert store.record_epoch(job_id, worker, epoch(n, acc=n / 100), bytes([n]) * 1000)
        results.put(store.finish_job(job_id, "succeeded", worker=worker).sweep_finished)


def test_concurrent_writers_lose_nothing(database_url: str, store: Store) -> None:
    sweep_id, job_ids = new_sweep(store, n_jobs=4)
    finished = run_children(_train_in_child, [(database_url, job_id) for job_id in job_ids])
    assert sorted(finished) == [False, False, False, True]
    epochs = store.sweep_epochs(sweep_id)
    for job_id in job_ids:
        assert [r.epoch for r in epochs[job_id]] == list(range(1, 41))
        assert [r.valid_acc for r in epochs[job_id]] == [n / 100 for n in range(1, 41)]
    assert rows(store, "SELECT epoch, length(state) FROM checkpoints") == [(40, 1000)] * 4
    assert store.get_sweep(sweep_id).status == "finished"


# -- retries --------------------------------------------------------------------------------


def _dropped() -> exc.OperationalError:
    return exc.OperationalError("UPDATE jobs", {}, Exception("server closed the connection"))


def test_transient_errors_are_retried(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    _, (job_id, *_) = new_sweep(store)
    store.claim_job(job_id, "w1", 60)
    pauses: list[float] = []
    store.sleep = pauses.append
    original = db_epochs.renew
    failures = iter([_dropped(), _dropped()])

    def flaky(*args: Any) -> dict[int, str]:
        error = next(failures, None)
        if error is not None:
            raise error
        return original(*args)

    monkeypatch.setattr(db_epochs, "renew", flaky)
    assert store.record_epoch(job_id, "w1", epoch(1)) is True
    assert len(pauses) == 2 and len(store.epochs(job_id)) == 1


def test_retries_are_bounded(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    _, (job_id, *_) = new_sweep(store)
    pauses: list[float] = []
    store.sleep = pauses.append

    def down(*_: Any) -> None:
        raise _dropped()

    monkeypatch.setattr(db_leases, "renew", down)
    with pytest.raises(DatabaseUnavailable, match="kept failing") as raised:
        store.heartbeat(job_id, "w1")
    assert isinstance(raised.value, ConnectionError)
    assert len(pauses) == len(store.retry_delays) and 15 <= sum(store.retry_delays) <= 40


def test_survives_dropped_postgres_connections(postgres_url: str) -> None:
    upgrade(postgres_url)
    with Store(postgres_url) as store:
        _, (job_id, *_) = new_sweep(store)
        store.claim_job(job_id, "w1", 60)
        store.record_epoch(job_id, "w1", epoch(1))
        # What a server restart does to every pooled connection.
        with Store(postgres_url) as admin:
            rows(
                admin,
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()",
            )
        assert store.record_epoch(job_id, "w1", epoch(2)) is True
        assert len(store.epochs(job_id)) == 2


# -- migrations -----------------------------------------------------------------------------


def test_new_sqlite_file_migrates_itself(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    with Store(url) as store:
        assert store.list_sweeps() == []
    assert current_revision(url) == head_revision()
    with Store(url) as store:  # and the next open finds it current
        assert store.list_sweeps() == []


def test_postgres_without_tables_needs_db_upgrade(postgres_url: str) -> None:
    message = (
        f"database schema is at base, this mnistgrid needs {head_revision()}: "
        "run `mnistgrid db upgrade`"
    )
    with pytest.raises(SchemaBehind) as raised:
        Store(postgres_url)
    assert str(raised.value) == message

    done = cli("db", "upgrade", "--database-url", postgres_url)
    assert f"schema upgraded from base to {head_revision()}" in done.stdout
    assert "(current)" in cli("db", "current", "--database-url", postgres_url).stdout
    with Store(postgres_url) as store:
        assert store.list_sweeps() == []


def test_sqlite_downgraded_to_base_is_behind(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    Store(url).close()
    downgrade(url, "base")
    assert current_revision(url) is None
    with pytest.raises(SchemaBehind, match="run `mnistgrid db upgrade`"):
        Store(url)
    failed = cli("db", "current", "--database-url", url)
    assert "schema at base (this mnistgrid needs" in failed.stdout
    upgrade(url)
    Store(url).close()


def test_newer_schema_is_refused(store: Store, database_url: str) -> None:
    with store.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = 'f00d'"))
    with pytest.raises(SchemaAhead, match="upgrade mnistgrid"):
        Store(database_url)


def test_upgrading_from_0001_keeps_the_data(empty_database_url: str) -> None:
    upgrade(empty_database_url, "0001")
    engine = make_engine(empty_database_url)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO sweeps (sweep_id, name, grid, grid_hash, status, created_at) "
                "VALUES (1, 'old', '{}', 'h', 'finished', CURRENT_TIMESTAMP)"
            )
        )
    engine.dispose()
    assert upgrade(empty_database_url) == head_revision()
    with Store(empty_database_url) as store:
        old = store.get_sweep("old")
        assert (old.status, old.report_status) == ("finished", None)
    assert downgrade(empty_database_url, "0001") == "0001"
    assert upgrade(empty_database_url) == head_revision()


def test_migrations_match_the_models(empty_database_url: str) -> None:
    assert upgrade(empty_database_url) == head_revision()
    assert upgrade(empty_database_url) == head_revision()  # a second run does nothing
    with Store(empty_database_url) as store, store.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
        inspector = inspect(connection)
        for table in Base.metadata.sorted_tables:
            reflected = {c["name"] for c in inspector.get_check_constraints(table.name)}
            declared = {c.name for c in table.constraints if isinstance(c, CheckConstraint)}
            assert reflected == declared, table.name


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(MNISTGRID), *args], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return done
