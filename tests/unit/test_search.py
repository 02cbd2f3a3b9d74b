"""Sampled axes: distributions drawn once at submit from the [search] table's seed, crossed
with the listed axes, and stacked as listed values are."""

from __future__ import annotations

import math

import pytest

from mnistgrid.spec import JobSpec
from orchestrator.grid import count_jobs, expand, parse_grid
from orchestrator.plan import plan
from orchestrator.search import Distribution, Search, draw, unit_points

SAMPLED = """
[search]
method = "{method}"
samples = {samples}
seed = {seed}
[grid]
model = ["linear", "mlp"]
loss = ["cross_entropy", "mnist_loss"]
lr = {{ log_uniform = [0.01, 10] }}
hidden = {{ int_log_uniform = [16, 512] }}
"""


def grid(method: str = "sobol", samples: int = 8, seed: int = 0):
    return parse_grid(SAMPLED.format(method=method, samples=samples, seed=seed), "sampled")


@pytest.mark.parametrize("method", ["random", "sobol"])
def test_the_same_seed_draws_the_same_points_and_another_seed_others(method):
    first, again = expand(grid(method), 1000), expand(grid(method), 1000)
    assert [job.key() for job in first] == [job.key() for job in again]
    assert grid(method).hash() == grid(method).hash()
    other = expand(grid(method, seed=1), 1000)
    assert {job.lr for job in other}.isdisjoint({job.lr for job in first})
    assert grid(method, seed=1).hash() != grid(method).hash()


@pytest.mark.parametrize("method", ["random", "sobol"])
def test_samples_cross_the_listed_axes_within_their_ranges(method):
    jobs = expand(grid(method, samples=16), 1000)
    assert count_jobs(grid(method, samples=16)) == len(jobs) == 2 * 2 * 16
    assert all(0.01 <= job.lr <= 10 for job in jobs)
    mlps = [job for job in jobs if job.model == "mlp"]
    assert all(isinstance(job.hidden, int) and 16 <= job.hidden <= 512 for job in mlps)
    # Every loss meets the same 16 learning rates: the samples cross the listed axes.
    by_loss = {loss: {j.lr for j in jobs if j.loss == loss and j.model == "linear"}
               for loss in ("cross_entropy", "mnist_loss")}  # fmt: skip
    assert by_loss["cross_entropy"] == by_loss["mnist_loss"] and len(by_loss["mnist_loss"]) == 16


def test_sobol_points_are_balanced():
    """32 scrambled Sobol points put exactly one point in each 32nd of every axis, and 4 in
    each quarter of the unit square's first two axes."""
    points = unit_points(Search(method="sobol", samples=32, seed=3), dims=2)
    for axis in (0, 1):
        assert sorted(math.floor(p[axis] * 32) for p in points) == list(range(32))
    quarters = [math.floor(p[0] * 2) * 2 + math.floor(p[1] * 2) for p in points]
    assert sorted(quarters.count(q) for q in range(4)) == [8, 8, 8, 8]


def test_a_log_uniform_axis_covers_each_decade_alike():
    sobol = Search(method="sobol", samples=64)
    lrs = [point["lr"] for point in draw(sobol, {"lr": Distribution(log_uniform=(0.01, 100))})]
    decades = [math.floor(math.log10(lr)) for lr in lrs]
    assert sorted(decades.count(d) for d in (-2, -1, 0, 1)) == [16, 16, 16, 16]


def test_integer_distributions_give_every_value_its_share():
    values = [Distribution(int_uniform=(1, 4)).value_at(k / 100) for k in range(100)]
    assert [values.count(v) for v in (1, 2, 3, 4)] == [25, 25, 25, 25]
    assert Distribution(int_log_uniform=(16, 512)).value_at(0.999999) == 512
    assert Distribution(int_log_uniform=(16, 512)).value_at(0.0) == 16


def test_sampled_learning_rates_stack_as_listed_ones_do():
    text = (
        '[search]\nmethod = "sobol"\nsamples = 32\n'
        '[grid]\nmodel = "linear"\nlr = { log_uniform = [0.01, 10] }\n'
    )
    jobs = plan(parse_grid(text, "stacks"), 1000, group_size=16, group_bytes=1 << 30)
    stacks = {job.group_key for job in jobs}
    assert len(jobs) == 32 and len(stacks) == 2 and None not in stacks
    assert all(JobSpec.model_validate(job.spec).lr == job.lr for job in jobs)


def test_init_std_is_an_axis_of_the_grid_and_stacks_freely():
    text = '[grid]\nmodel = "linear"\nlr = [0.5, 1.0]\ninit_std = [0.1, 1.0]\n'
    jobs = plan(parse_grid(text, "init"), 1000, group_size=16, group_bytes=1 << 30)
    assert sorted((j.spec["lr"], j.spec["init_std"]) for j in jobs) == [
        (0.5, 0.1), (0.5, 1.0), (1.0, 0.1), (1.0, 1.0)
    ]  # fmt: skip
    assert len({job.group_key for job in jobs}) == 1  # one stack: init_std only starts them
    # Without the axis, [train] init_std is every job's, and the grid keeps its old hash.
    plain = parse_grid('[train]\ninit_std = 0.5\n[grid]\nmodel = "linear"\n', "plain")
    assert [job.init_std for job in expand(plain, 10)] == [0.5]


HYPERBAND = """
[train]
epochs = 9
[stop]
rule = "hyperband"
grace = 1
reduction = 3
[grid]
model = ["baseline", "linear"]
lr = [0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1, 3, 10]
"""


def test_hyperband_deals_the_jobs_to_brackets_and_stacks_never_cross_them():
    jobs = plan(parse_grid(HYPERBAND, "hb"), 1000, group_size=16, group_bytes=1 << 30)
    again = plan(parse_grid(HYPERBAND, "hb"), 1000, group_size=16, group_bytes=1 << 30)
    assert [(j.key, j.bracket, j.group_key) for j in jobs] == [
        (j.key, j.bracket, j.group_key) for j in again
    ]
    trained = [job for job in jobs if job.model != "baseline"]
    # Three brackets (epochs 9, reduction 3): 9 : 5 : 3 parts of the 9 linear jobs.
    assert sorted(job.bracket for job in trained) == [0] * 5 + [1] * 3 + [2]
    assert all(job.bracket is None for job in jobs if job.model == "baseline")
    for key in {job.group_key for job in trained if job.group_key}:
        assert len({job.bracket for job in trained if job.group_key == key}) == 1
