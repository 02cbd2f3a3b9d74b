"""Early-stopping rules on synthetic epoch tables: rungs, grace, ties, brackets, late arrivals;
and a stack that loses members to the rule while the others train on as if alone."""

from __future__ import annotations

import math

import pytest
import torch

from db.rungs import restack, spread
from mnistgrid.core.learner import fit
from mnistgrid.core.stacking import shape_of
from mnistgrid.core.stopping import (
    Reached,
    asha_rungs,
    decides_at,
    hyperband_brackets,
    hyperband_shares,
    jobs_to_stop,
    promoted,
    rungs,
)
from mnistgrid.spec import JobSpec, StopSpec
from tests.unit.synthetic import synthetic_data

ASHA = StopSpec(rule="asha", grace=1, reduction=3)


def table(**values: float | None) -> dict[int, Reached]:
    """Jobs j1, j2, ... of one bracket ("linear") with their metric."""
    return {int(name[1:]): Reached("linear", value) for name, value in values.items()}


def test_asha_rungs_grow_by_the_reduction_and_stop_before_the_last_epoch():
    assert asha_rungs(grace=1, reduction=3, epochs=20) == [1, 3, 9]
    assert asha_rungs(grace=2, reduction=2, epochs=16) == [2, 4, 8]
    assert asha_rungs(grace=5, reduction=3, epochs=5) == []
    assert [e for e in range(1, 21) if decides_at(ASHA, e, 20)] == [1, 3, 9]


def test_median_decides_from_the_grace_period_on_and_never_at_the_last_epoch():
    median = StopSpec(rule="median", grace=3)
    assert [e for e in range(1, 7) if decides_at(median, e, 6)] == [3, 4, 5]
    assert not any(decides_at(StopSpec(), e, 6) for e in range(1, 7))


def test_the_first_job_at_a_rung_always_continues():
    assert jobs_to_stop(ASHA, [1], table(j1=0.1)) == set()


def test_asha_keeps_the_top_third_of_a_rung():
    # Nine values at the rung, j1's among them: their 2/3 quantile is 0.6667 with j1 at 0.65.
    reached = table(j1=0.65, j2=0.2, j3=0.3, j4=0.4, j5=0.5, j6=0.6, j7=0.7, j8=0.8, j9=0.9)
    assert jobs_to_stop(ASHA, [1], reached) == {1}
    reached[1] = Reached("linear", 0.7)
    assert jobs_to_stop(ASHA, [1], reached) == set()


def test_a_tie_with_the_cutoff_continues():
    reached = table(j1=0.5, j2=0.5, j3=0.5)
    assert jobs_to_stop(ASHA, [1, 2, 3], reached) == set()


def test_a_job_arriving_late_at_a_rung_meets_everyone_recorded_there():
    # Asynchronous: nobody waits for a rung to fill. Arriving second, 0.55 beats the one before.
    assert jobs_to_stop(ASHA, [2], table(j1=0.5, j2=0.55)) == set()
    # Arriving after four others, it is judged against all of them: 2/3 quantile 0.7.
    late = table(j1=0.5, j3=0.6, j4=0.7, j5=0.8, j2=0.55)
    assert jobs_to_stop(ASHA, [2], late) == {2}


def test_a_stack_arriving_together_is_cut_as_a_rung():
    # Six members reach the rung at once: the top third of the six (two) continue.
    reached = table(j1=0.9, j2=0.8, j3=0.3, j4=0.2, j5=0.1, j6=0.85)
    assert jobs_to_stop(ASHA, [1, 2, 3, 4, 5, 6], reached) == {2, 3, 4, 5}


def test_brackets_are_families_unless_the_grid_is_one():
    reached = {
        1: Reached("linear", 0.9),
        2: Reached("linear", 0.88),
        3: Reached("mlp", 0.5),  # a slower starter, alone in its family
        4: Reached("mlp", 0.45),
    }
    assert jobs_to_stop(ASHA, [3, 4], reached) == {4}
    whole = StopSpec(rule="asha", brackets="grid")
    assert jobs_to_stop(whole, [3, 4], reached) == {3, 4}


def test_loss_is_minimised_and_a_diverged_job_is_the_worst():
    by_loss = StopSpec(rule="asha", metric="valid_loss")
    assert by_loss.mode == "min"
    reached = table(j1=0.3, j2=0.2, j3=0.1, j4=None)
    assert jobs_to_stop(by_loss, [1, 2, 3, 4], reached) == {
        1,
        4,
    }  # the largest loss, and the diverged job
    assert jobs_to_stop(ASHA, [4], table(j4=math.nan, j1=0.1)) == {4}


def test_median_needs_enough_others_and_stops_below_their_median():
    median = StopSpec(rule="median", grace=1, min_jobs=3)
    assert jobs_to_stop(median, [1], table(j1=0.1, j2=0.5, j3=0.6)) == set()  # two others
    reached = table(j1=0.55, j2=0.5, j3=0.6, j4=0.7)
    assert jobs_to_stop(median, [1], reached) == {1}  # median of 0.5, 0.6, 0.7 is 0.6
    assert jobs_to_stop(median, [4], reached) == set()


def test_no_rule_stops_nothing():
    assert jobs_to_stop(StopSpec(), [1], table(j1=0.0, j2=1.0, j3=1.0)) == set()


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"rule": "median", "reduction": 2}, "reduction applies to rule 'asha'"),
        ({"rule": "asha", "min_jobs": 2}, "min_jobs applies to rule 'median' only"),
        ({"rule": "bohb"}, "rule"),
        ({"rule": "asha", "reduction": 1}, "reduction"),
        ({"rule": "asha", "grace": 0}, "grace"),
        ({"rule": "asha", "metric": "train_loss"}, "metric"),
        ({"rule": "asha", "patience": 3}, "patience"),
    ],
)
def test_stop_tables_are_validated(given, message):
    with pytest.raises(ValueError, match=message):
        StopSpec(**given)


DATA = synthetic_data()


def job(lr: float) -> JobSpec:
    return JobSpec(model="mlp", hidden=16, lr=lr, epochs=4, batch_size=64, device="cpu")


def test_stopped_members_leave_the_stack_and_the_others_train_as_if_alone():
    lrs = (0.1, 0.3, 0.5, 1.0, 2.0)
    jobs = [job(lr) for lr in lrs]
    rows_per_epoch, final_params = [], {}

    def stop_two_at_epoch_two(events):
        rows_per_epoch.append(len(events))
        final_params.update({e.member: e.params for e in events})
        return [1, 3] if events[0].metrics.epoch == 2 else None

    together = fit(jobs, DATA, stop_two_at_epoch_two)
    assert [r.outcome for r in together] == [
        "succeeded",
        "stopped",
        "succeeded",
        "stopped",
        "succeeded",
    ]
    assert rows_per_epoch == [5, 5, 3, 3]  # the stack shrank: later epochs train three members
    assert [len(r.epochs) for r in together] == [4, 2, 4, 2, 4]
    for member in (0, 2, 4):
        alone = fit([jobs[member]], DATA)[0]
        for a, f in zip(alone.epochs, together[member].epochs, strict=True):
            assert f.train_loss == pytest.approx(a.train_loss, rel=1e-4)
            assert f.valid_acc == pytest.approx(a.valid_acc, abs=1e-6)
        assert all(torch.isfinite(p).all() for p in final_params[member])


# -- synchronous rules: SHA and Hyperband ---------------------------------------------------

SHA = StopSpec(rule="sha", grace=1, reduction=3)
HYPERBAND = StopSpec(rule="hyperband", grace=1, reduction=3)


def test_sha_promotes_exactly_the_top_third_of_a_complete_rung():
    reached = {job: job / 10 for job in range(1, 10)}  # nine jobs, 0.1 .. 0.9
    assert promoted(SHA, reached, waiting=reached) == {7, 8, 9}
    # Those that went on before are counted, not promoted again: a late arrival meets them all.
    assert promoted(SHA, reached, waiting=[8]) == {8}
    assert promoted(SHA, reached, waiting=[6]) == set()


def test_sha_keeps_at_least_one_and_ties_with_the_last_go_on():
    assert promoted(SHA, {1: 0.2, 2: 0.1}, waiting=[1, 2]) == {1}
    assert promoted(SHA, {1: 0.5, 2: 0.5, 3: 0.5, 4: 0.1}, waiting=[1, 2, 3, 4]) == {1, 2, 3}
    # A diverged job (no finite value) is the worst of all; a loss is better when smaller.
    assert promoted(SHA, {1: None, 2: 0.1, 3: math.inf}, waiting=[1, 2, 3]) == {2}
    by_loss = StopSpec(rule="sha", metric="valid_loss", reduction=2)
    assert promoted(by_loss, {1: 0.3, 2: 0.1, 3: 0.2, 4: 0.4}, waiting=[1, 2, 3, 4]) == {2, 3}


def test_hyperband_brackets_start_later_by_the_reduction_each():
    # Li et al.'s example: R = 27 epochs, eta = 3: s_max = 3, four brackets.
    assert hyperband_brackets(HYPERBAND, 27) == 4
    assert [rungs(HYPERBAND, 27, b) for b in range(4)] == [[1, 3, 9], [3, 9], [9], []]
    assert hyperband_brackets(HYPERBAND, 2) == 1 and rungs(HYPERBAND, 2, 0) == [1]
    assert [e for e in range(1, 28) if decides_at(HYPERBAND, e, 27, bracket=1)] == [3, 9]


def test_hyperband_deals_jobs_in_the_papers_proportions():
    # n_s = ceil((s_max + 1) / (s + 1) * eta**s): 27, 12, 6 and 4 configurations.
    assert hyperband_shares(HYPERBAND, 27, 49) == [27, 12, 6, 4]
    for n_jobs in (0, 1, 5, 17, 100):
        shares = hyperband_shares(HYPERBAND, 27, n_jobs)
        assert sum(shares) == n_jobs and shares == sorted(shares, reverse=True)


@pytest.mark.parametrize(
    ("sizes", "slots", "spread_sizes"),
    [
        ([7], 2, [4, 3]),  # half stacks on two workers
        ([3], 4, [1, 1, 1]),  # never below one member
        ([8, 8, 8], 2, [8, 8, 8]),  # enough stacks already
        ([6, 1], 4, [2, 2, 2, 1]),  # the most members per part are split first
        ([5], 0, [5]),  # no idle slot known: whole
        ([], 3, []),
    ],
)
def test_a_rungs_survivors_are_spread_over_idle_slots(sizes, slots, spread_sizes):
    stacks = [
        [JobSpec(model="linear", lr=0.1 * (n + 1) + s) for n in range(size)]
        for s, size in enumerate(sizes)
    ]
    spread_stacks = spread(stacks, slots)
    assert [len(stack) for stack in spread_stacks] == spread_sizes
    members = [spec for stack in stacks for spec in stack]
    assert sorted(s.lr for stack in spread_stacks for s in stack) == sorted(s.lr for s in members)


@pytest.mark.parametrize(
    ("survivors", "size", "stack_sizes"),
    [(22, 16, [11, 11]), (17, 16, [9, 8]), (5, 16, [5]), (48, 16, [16, 16, 16]), (3, 1, [1] * 3)],
)
def test_a_rungs_survivors_go_on_in_stacks_of_even_sizes(survivors, size, stack_sizes):
    specs = [JobSpec(model="linear", lr=0.01 * (n + 1)) for n in range(survivors)]
    stacks = restack(specs, {shape_of(specs[0]): size})
    assert sorted((len(stack) for stack in stacks), reverse=True) == stack_sizes
