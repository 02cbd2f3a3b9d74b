"""Synchronous rungs in the store (rules `sha` and `hyperband`), on SQLite and PostgreSQL: jobs
park at a rung, the rung is decided once it is complete, and exactly once; the survivors of
several stacks go on as one; cancel and resume of a sweep with parked jobs.

    python -m pytest tests/integration/test_rungs.py
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from db.records import EpochRow, EpochWrite, NewJob, StopCheck
from db.store import Store
from mnistgrid.spec import JobSpec, StopSpec
from tests.integration.test_store import run_children

pytestmark = pytest.mark.integration

EPOCHS = 4
SHA = StopSpec(rule="sha", grace=1, reduction=3)  # rungs at epochs 1 and 3
GRID = {"stop": SHA.model_dump(mode="json"), "train": {"time_limit": 60, "device": "cpu"}}


def new_sweep(store: Store, stacks: list[list[float]], name: str = "sha") -> list[list[int]]:
    """Linear jobs, one per lr, in the stacks given (a list of lrs per stack)."""
    jobs = []
    for n, lrs in enumerate(stacks):
        for lr in lrs:
            spec = JobSpec(model="linear", lr=lr, epochs=EPOCHS)
            jobs.append(NewJob(spec.key(), spec.model_dump(mode="json"), "linear", spec.loss, lr,
                               f"stack-{n}" if len(lrs) > 1 else None))  # fmt: skip
    sweep_id = store.create_sweep(name, GRID, name, jobs).sweep_id
    by_lr = {job.lr: job.job_id for job in store.sweep_jobs(sweep_id)}
    return [[by_lr[lr] for lr in lrs] for lrs in stacks]


def check(store: Store, any_job: int) -> StopCheck:
    return StopCheck(store.get_job(any_job).sweep_id, SHA, EPOCHS)


def writes(job_ids: list[int], epoch: int, acc: dict[int, float]) -> list[EpochWrite]:
    return [
        EpochWrite(j, EpochRow(epoch, 0.5, 0.5, acc[j], (acc[j],) * 10, 0.1), b"ckpt")
        for j in job_ids
    ]


def train_to(
    store: Store, worker: str, job_ids: list[int], epoch: int, acc: dict[int, float]
) -> Any:
    """Claim the jobs and record their epochs up to `epoch`; the last call's result."""
    claimed = store.claim_jobs(job_ids, worker, 60)
    start = {c.job_id: c.checkpoint.epoch if c.checkpoint else 0 for c in claimed.claims}
    recorded = None
    for n in range(min(start.values()) + 1, epoch + 1):
        recorded = store.record_epochs(
            worker, writes(job_ids, n, acc), stop=check(store, job_ids[0])
        )
    return recorded


def statuses(store: Store, job_ids: list[int]) -> list[str]:
    return [store.get_job(j).status for j in job_ids]


def test_a_rung_waits_for_its_bracket_then_promotes_exactly_the_top_third(store: Store) -> None:
    a, b = new_sweep(store, [[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]])
    acc = {job: 0.1 * n for n, job in enumerate(a + b, start=1)}  # b's last two are the best
    first = train_to(store, "w1", a, 1, acc)
    assert first.parked == tuple(a) and first.promoted == () and first.stopped_at_rung == ()
    assert statuses(store, a) == ["parked"] * 3  # stack b has not reached the rung yet
    assert all(store.get_job(j).worker is None for j in a)

    second = train_to(store, "w2", b, 1, acc)
    assert second.parked == tuple(b)
    assert second.promoted == tuple(b[1:])  # the top ceil(6 / 3) = 2 of all six
    assert sorted(second.stopped_at_rung) == sorted(a + b[:1])
    assert statuses(store, a + b) == ["stopped"] * 4 + ["queued"] * 2
    survivors = [store.get_job(j) for j in b[1:]]
    assert {j.cleared_rung for j in survivors} == {1}
    assert len({j.group_key for j in survivors}) == 1  # one new stack
    assert survivors[0].group_key not in (None, "stack-1")
    stopped = store.get_job(a[0])
    assert (stopped.final_acc, stopped.best_epoch) == (pytest.approx(0.1), 1)


def test_survivors_go_on_through_the_next_rung_to_the_end(store: Store) -> None:
    (stack,) = new_sweep(store, [[0.1, 0.2, 0.3, 0.4, 0.5, 0.6]])
    acc = {job: 0.1 * n for n, job in enumerate(stack, start=1)}
    assert train_to(store, "w1", stack, 1, acc).promoted == tuple(stack[4:])
    at_three = train_to(store, "w2", stack[4:], 3, acc)
    assert at_three.parked == tuple(stack[4:]) and at_three.promoted == (stack[5],)
    assert at_three.stopped_at_rung == (stack[4],)
    last = train_to(store, "w3", [stack[5]], EPOCHS, acc)
    assert last.parked == () and last.promoted == ()  # epoch 4 is the last: no rung there
    done = store.finish_job(stack[5], "succeeded", worker="w3")
    assert done.sweep_finished
    epochs = {j: store.get_job(j).last_epoch for j in stack}
    assert list(epochs.values()) == [1, 1, 1, 1, 3, 4]


def test_a_duplicate_message_never_claims_a_parked_job(store: Store) -> None:
    a, b = new_sweep(store, [[0.1, 0.2], [0.3, 0.4]])
    train_to(store, "w1", a, 1, dict.fromkeys(a + b, 0.5))
    assert store.claim_jobs(a, "w2", 60).claims == ()
    assert statuses(store, a) == ["parked", "parked"]


def test_a_job_that_ends_before_the_rung_completes_it(store: Store) -> None:
    a, b = new_sweep(store, [[0.1, 0.2, 0.3], [0.4]])
    acc = {job: 0.1 * n for n, job in enumerate(a + b, start=1)}
    train_to(store, "w1", a, 1, acc)
    store.claim_jobs(b, "w2", 60)
    done = store.finish_job(b[0], "failed", worker="w2", error="out of memory")
    assert done.sweep_finished is False
    # Three reached the rung: ceil(3 / 3) = 1 goes on, queued for the reconcile to send.
    assert statuses(store, a) == ["stopped", "stopped", "queued"]


def _record_rung_in_child(url: str, worker: str, job_ids: list[int], barrier, results) -> None:
    with Store(url) as store:
        acc = {j: j / 100 for j in job_ids}
        store.claim_jobs(job_ids, worker, 60)
        barrier.wait()
        recorded = store.record_epochs(
            worker, writes(job_ids, 1, acc), stop=check(store, job_ids[0])
        )
        results.put(list(recorded.promoted))


def test_two_stacks_completing_a_rung_at_once_promote_once(
    database_url: str, store: Store
) -> None:
    stacks = new_sweep(store, [[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]])
    outputs = run_children(
        _record_rung_in_child, [(database_url, f"w{n}", stack) for n, stack in enumerate(stacks)]
    )
    promoted = [ids for ids in outputs if ids]
    assert len(promoted) == 1 and len(promoted[0]) == 2  # one decider, two survivors
    jobs = [store.get_job(j) for stack in stacks for j in stack]
    assert sorted(j.status for j in jobs) == ["queued"] * 2 + ["stopped"] * 4


def test_cancel_and_resume_of_a_sweep_with_parked_jobs(store: Store) -> None:
    a, b = new_sweep(store, [[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]])
    acc = {job: 0.1 * n for n, job in enumerate(a + b, start=1)}
    train_to(store, "w1", a, 1, acc)
    sweep_id = store.get_job(a[0]).sweep_id
    assert store.cancel_sweep(sweep_id) == 6  # three parked, three queued
    assert statuses(store, a + b) == ["cancelled"] * 6
    assert store.requeue_unfinished(sweep_id) == sorted(a + b)
    # a resumes from the rung it never had a decision at: it parks there again.
    claimed = store.claim_jobs(a, "w2", 60)
    again = store.park_at_rungs("w2", {c.job_id: c.checkpoint.epoch for c in claimed.claims},
                                check(store, a[0]))  # fmt: skip
    assert again.parked == tuple(a) and again.promoted == ()
    done = train_to(store, "w3", b, 1, acc)
    assert done.promoted == tuple(b[1:])
    # A job promoted past the rung, then resumed from it, trains on.
    claimed = store.claim_jobs(b[1:], "w4", 60)
    assert store.park_at_rungs("w4", {j: 1 for j in b[1:]}, check(store, b[1])).parked == ()


def test_survivors_spread_over_idle_slots(store: Store) -> None:
    (stack,) = new_sweep(store, [[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]])
    acc = {job: 0.1 * n for n, job in enumerate(stack, start=1)}
    store.check_in_worker("one@host", ["cpu", "report"], slots=2, seconds=60)
    store.check_in_worker("two@host", ["cpu"], slots=1, seconds=60)
    store.check_in_worker("gpu@host", ["gpu"], slots=4, seconds=60)  # not the survivors' queue
    assert train_to(store, "w1", stack, 1, acc).promoted == tuple(stack[6:])
    # Three idle cpu slots, one stack of three: a stack of one for each.
    assert [store.get_job(j).group_key for j in stack[6:]] == [None, None, None]
    workers = {w.name: (w.queues, w.slots) for w in store.live_workers()}
    assert workers["one@host"] == (("cpu", "report"), 2) and len(workers) == 3


def test_survivors_stay_stacked_when_the_slots_are_taken(store: Store) -> None:
    (stack,) = new_sweep(store, [[0.1, 0.2, 0.3, 0.4, 0.5, 0.6]])
    (held,) = new_sweep(store, [[0.7]], name="held")
    new_sweep(store, [[0.01, 0.02]], name="waiting")  # a queued stack
    store.check_in_worker("one@host", ["cpu"], slots=3, seconds=60)
    store.check_in_worker("gone@host", ["cpu"], slots=8, seconds=0.05)
    time.sleep(0.1)  # gone's check-in runs out: it may have been killed
    store.claim_jobs(held, "trainer", 60)
    # Of one's three slots, one trains `held` and one has the queued stack waiting for it.
    acc = {job: 0.1 * n for n, job in enumerate(stack, start=1)}
    assert train_to(store, "w1", stack, 1, acc).promoted == tuple(stack[4:])
    keys = {store.get_job(j).group_key for j in stack[4:]}
    assert len(keys) == 1 and None not in keys
    assert [w.name for w in store.live_workers()] == ["one@host"]
    assert store.check_out_worker("one@host") and not store.check_out_worker("one@host")
    assert store.live_workers() == []
