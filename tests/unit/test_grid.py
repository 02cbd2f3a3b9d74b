"""Grid files to jobs, and jobs to stacks: pure functions, no services."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from pydantic import ValidationError

from mnistgrid.core.learner import shuffle_seed
from mnistgrid.core.sizes import member_bytes
from mnistgrid.errors import BadInput
from mnistgrid.spec import (
    MAX_EPOCHS,
    MAX_SEED,
    DataSpec,
    JobSpec,
    StopSpec,
    fit_sweep_name,
    sweep_name_problem,
)
from orchestrator.grid import count_jobs, expand, load_grid, parse_grid
from orchestrator.plan import plan

EXAMPLES = Path(__file__).parents[2] / "examples"
GRID = """
[train]
epochs = 5
[grid]
model = ["baseline", "linear", "mlp"]
distance = ["mae", "mse"]
loss = ["mnist_loss", "cross_entropy"]
lr = [0.5, 1.0, 2.0]
hidden = [32, 64]
seed = [0, 1]
"""
# GRID naming the gradient every grid had by default before the models chose their own.
GRID_AUTOGRAD = GRID.replace("[train]\n", '[train]\ngradient = "autograd"\n')


def test_axes_multiply_only_for_the_models_that_read_them():
    jobs = expand(parse_grid(GRID, "g"), limit=1000)
    by_model = {m: [j for j in jobs if j.model == m] for m in ("baseline", "linear", "mlp")}
    assert len(by_model["baseline"]) == 2  # once per distance, no lr or loss
    assert len(by_model["linear"]) == 2 * 3 * 2  # loss x lr x seed
    assert len(by_model["mlp"]) == 2 * 3 * 2 * 2  # ... x hidden
    assert count_jobs(parse_grid(GRID, "g")) == len(jobs)
    assert len({j.key() for j in jobs}) == len(jobs)
    assert all(j.epochs == 5 for j in jobs)


def test_a_scalar_is_a_one_value_axis_and_the_name_defaults_to_the_file():
    grid = parse_grid('[grid]\nmodel = "linear"\nlr = 0.3\n', "fallback")
    (job,) = expand(grid, limit=10)
    assert (job.model, job.lr, grid.name) == ("linear", 0.3, "fallback")


def test_examples_are_valid_and_seeds_is_the_posts_comparison():
    seeds = load_grid(EXAMPLES / "seeds.toml")
    jobs = expand(seeds, limit=1000)
    assert {(j.model, j.loss) for j in jobs if j.model != "baseline"} == {
        (m, loss)
        for m in ("linear", "mlp")
        for loss in ("mnist_loss", "softmax_mse", "cross_entropy")
    }
    assert {j.distance for j in jobs if j.model == "baseline"} == {"mae", "mse"}
    assert 1.0 in {j.lr for j in jobs} and all(j.epochs == 40 for j in jobs)
    assert expand(load_grid(EXAMPLES / "quick.toml"), limit=1000)


def test_the_grid_hash_depends_on_content_not_layout():
    a = parse_grid('[grid]\nmodel = "linear"\nlr = [1.0]\n', "a")
    b = parse_grid('[grid]\nlr = 1.0\nmodel = ["linear"]\n', "b")
    c = parse_grid('[grid]\nmodel = "linear"\nlr = [2.0]\n', "a")
    assert a.hash() == b.hash() != c.hash()


def test_a_grid_over_the_limit_is_refused_before_expanding():
    with pytest.raises(BadInput, match="over the limit of 10"):
        expand(parse_grid(GRID, "g"), limit=10)


def test_plan_stacks_same_shape_jobs_and_leaves_baselines_alone():
    jobs = plan(parse_grid(GRID, "g"), limit=1000, group_size=4, group_bytes=1 << 30)
    groups: dict[str, list] = {}
    for job in jobs:
        if job.group_key:
            groups.setdefault(job.group_key, []).append(job)
    assert all(j.group_key is None for j in jobs if j.model == "baseline")
    assert all(len(g) <= 4 for g in groups.values())
    for members in groups.values():
        shapes = {JobSpec.model_validate(j.spec).shape_key() for j in members}
        assert len(shapes) == 1, "a stack holds one shape"
    # linear: per loss, the 3 lrs of seed 0 in one stack and those of seed 1 in another
    linear = [g for g in groups.values() if g[0].model == "linear"]
    assert sorted(len(g) for g in linear) == [3, 3, 3, 3]
    for members in groups.values():
        assert len({j.spec["seed"] for j in members}) == 1, "stack members share a shuffle"


def test_jobs_alone_in_their_seed_are_stacked_across_seeds():
    grid = parse_grid('[grid]\nmodel = "linear"\nlr = 1.0\nseed = [0, 1, 2, 3, 4]\n', "g")
    jobs = plan(grid, limit=100, group_size=4, group_bytes=1 << 30)
    sizes: dict[str, int] = {}
    for job in jobs:
        sizes[job.group_key] = sizes.get(job.group_key, 0) + 1
    assert sorted(sizes.values(), key=lambda n: -n) == [4, 1]


def test_fuse_false_and_the_memory_bound_shrink_the_stacks():
    unfused = parse_grid("fuse = false\n" + GRID, "g")
    assert all(j.group_key is None for j in plan(unfused, 1000, 16, 1 << 30))
    mlp = JobSpec(model="mlp", hidden=64)
    tight = plan(parse_grid(GRID, "g"), 1000, 16, group_bytes=2 * member_bytes(mlp))
    sizes: dict[str, int] = {}
    for job in tight:
        if job.group_key and job.model == "mlp" and job.spec["hidden"] == 64:
            sizes[job.group_key] = sizes.get(job.group_key, 0) + 1
    assert max(sizes.values()) == 2


def test_a_stop_table_is_read_and_changes_the_sweep_but_not_its_jobs():
    plain = parse_grid(GRID, "g")
    stopping = parse_grid(GRID + '[stop]\nrule = "asha"\ngrace = 2\n', "g")
    assert (stopping.spec.stop.rule, stopping.spec.stop.grace) == ("asha", 2)
    assert stopping.hash() != plain.hash()  # another sweep...
    assert [j.key() for j in expand(stopping, 1000)] == [j.key() for j in expand(plain, 1000)]


def test_no_stop_table_keeps_the_hash_grids_had_before_stopping_existed():
    # GRID's hash as mnistgrid computed it before [stop] existed, when the gradient's default was
    # "autograd": resubmitting it, gradient named, finds its sweep.
    before = "a02778da5d849bbe27ae88391494a5fe67a3388c92cb67cedd622f06533d1b38"
    assert parse_grid(GRID_AUTOGRAD, "g").hash() == before
    assert parse_grid(GRID_AUTOGRAD + '[stop]\nrule = "none"\n', "g").hash() == before


def test_the_gradient_defaults_to_each_models_faster_way():
    jobs = expand(parse_grid(GRID, "g"), 1000)
    assert {j.gradient for j in jobs if j.model == "linear"} == {"manual"}
    assert {j.gradient for j in jobs if j.model == "mlp"} == {"autograd"}
    named = parse_grid(GRID_AUTOGRAD, "g")
    assert {j.gradient for j in expand(named, 1000) if j.model != "baseline"} == {"autograd"}
    # Leaving it to the models trains the linear jobs by hand: another sweep than naming autograd.
    assert named.hash() != parse_grid(GRID, "g").hash()
    assert JobSpec(model="linear").gradient == "manual"
    assert JobSpec(model="mlp").gradient == "autograd"
    assert JobSpec(model="linear", gradient="autograd").gradient == "autograd"
    assert JobSpec.model_validate(JobSpec(model="linear").model_dump()).gradient == "manual"


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('rule = "asha"\nreduction = 1', "stop.reduction"),
        ('rule = "median"\nreduction = 2', "reduction applies to rule 'asha', 'sha', 'hyperband'"),
        ('rule = "asha"\ngrace = 5', "stop.grace: 5 epochs leaves nothing to stop"),
        ('rule = "bohb"', "stop.rule"),
        ('rule = "asha"\nwhen = "soon"', "stop.when: unknown key"),
    ],
)
def test_a_bad_stop_table_is_one_line_naming_the_key(table, message):
    with pytest.raises(BadInput, match=message):
        parse_grid(GRID + f"[stop]\n{table}\n", "g")


@pytest.mark.parametrize("depth", [5000, 100_000])
def test_a_value_nested_thousands_deep_is_one_line_not_a_recursion_error(depth):
    text = '[grid]\nmodel = "linear"\nlr = ' + "[" * depth + "1.0" + "]" * depth + "\n"
    with pytest.raises(BadInput, match="nested too deeply"):
        parse_grid(text, "g", where="deep.toml: ")
    table = "x = " + "{a = " * depth + "1" + "}" * depth + "\n[grid]\nmodel = 'linear'\n"
    with pytest.raises(BadInput, match="nested too deeply"):
        parse_grid(table, "g")


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ('[grid]\nmodel = "linear"\nlr = [true]', "grid.lr.0: Input should be a valid number"),
        ('[grid]\nmodel = "linear"\nlr = ["1"]', "grid.lr.0: Input should be a valid number"),
        ('[grid]\nmodel = "mlp"\nhidden = true', "grid.hidden.0: Input should be a valid integer"),
        ('[grid]\nmodel = "mlp"\nhidden = 64.0', "grid.hidden.0: Input should be a valid integer"),
        ('[grid]\nmodel = "linear"\nseed = [false]', "grid.seed.0: Input should be a valid"),
        ('[grid]\nmodel = "linear"\nbatch_size = "256"', "grid.batch_size.0: Input should be"),
        ('[data]\nsplit_seed = "7"\n[grid]\nmodel = "linear"', "data.split_seed: Input should be"),
        ('[data]\nnormalize = 1\n[grid]\nmodel = "linear"', "data.normalize: Input should be"),
        ('[data]\nnormalize = "true"\n[grid]\nmodel = "linear"', "data.normalize: Input should"),
        ('[train]\nepochs = 2.0\n[grid]\nmodel = "linear"', "train.epochs: Input should be"),
        ('[train]\ntime_limit = true\n[grid]\nmodel = "linear"', "train.time_limit: Input should"),
        ('[train]\ninit_std = "1"\n[grid]\nmodel = "linear"', "train.init_std: Input should be"),
        ('[stop]\nrule = "asha"\ngrace = true\n[grid]\nmodel = "linear"', "stop.grace: Input"),
        ('[stop]\nrule = "median"\nmin_jobs = 3.0\n[grid]\nmodel = "linear"', "stop.min_jobs"),
        ('fuse = 1\n[grid]\nmodel = "linear"', "fuse: Input should be a valid boolean"),
    ],
    ids=[
        "lr-true",
        "lr-quoted",
        "hidden-true",
        "hidden-float",
        "seed-false",
        "batch-quoted",
        "split-seed-quoted",
        "normalize-1",
        "normalize-quoted",
        "epochs-2.0",
        "time-limit-true",
        "init-std-quoted",
        "grace-true",
        "min-jobs-3.0",
        "fuse-1",
    ],
)
def test_grid_values_have_their_own_type_no_coercion(document, message):
    with pytest.raises(BadInput, match=message):
        parse_grid(document, "g")


def test_a_type_error_names_the_value_it_got():
    with pytest.raises(BadInput, match=r"grid\.lr\.0: Input should be a valid number, got True$"):
        parse_grid('[grid]\nmodel = "linear"\nlr = [true]', "g")


def test_an_integer_is_a_number_where_a_float_is_expected():
    grid = parse_grid(
        "[data]\nvalid = 0.2\n[train]\ninit_std = 1\ntime_limit = 60\n"
        '[grid]\nmodel = "linear"\nlr = [1, 2]\n',
        "g",
    )
    assert grid.spec.grid.lr == [1.0, 2.0] and grid.spec.train.time_limit == 60.0
    # ... and hashes as the same grid written with floats, so that it finds its sweep again
    as_floats = parse_grid(
        "[data]\nvalid = 0.2\n[train]\ninit_std = 1.0\ntime_limit = 60.0\n"
        '[grid]\nmodel = "linear"\nlr = [1.0, 2.0]\n',
        "g",
    )
    assert grid.hash() == as_floats.hash()


def test_stored_params_read_back_from_json_still_validate():
    """Strictness is for grid files: a job's params come back from the database as JSON, its
    digit pair a list, and must give the same spec."""
    grid = parse_grid(
        '[data]\ndigits = [3, 7]\nvalid = 0.2\n[grid]\nmodel = ["linear", "mlp"]\n', "g"
    )
    for job in expand(grid, limit=100):
        stored = json.loads(json.dumps(job.model_dump(mode="json")))
        assert stored["data"]["digits"] == [3, 7]
        assert JobSpec.model_validate(stored) == job
    stop = parse_grid(GRID + '[stop]\nrule = "asha"\n', "g").spec.model_dump(mode="json")["stop"]
    assert StopSpec.model_validate(json.loads(json.dumps(stop))).rule == "asha"


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("[data]\nsplit_seed = 99999999999999999999999", "data.split_seed: Input should be less"),
        ("[data]\nsplit_seed = 2147483649", "data.split_seed: Input should be less"),
        ("[data]\nsplit_seed = -1", "data.split_seed: Input should be greater"),
        ("[grid]\nseed = [0, 2147483649]", "grid.seed: must be between 0 and 2147483648"),
    ],
)
def test_seeds_are_bounded_to_what_torchs_generator_takes(document, message):
    if "[grid]" not in document:
        document += "\n[grid]"
    with pytest.raises(BadInput, match=message):
        parse_grid(document + '\nmodel = "linear"\n', "g")


def test_the_largest_seeds_fit_torchs_generator_with_the_shuffle_arithmetic():
    spec = JobSpec(model="linear", seed=MAX_SEED, data=DataSpec(split_seed=MAX_SEED))
    torch.Generator().manual_seed(shuffle_seed(spec.seed, MAX_EPOCHS))
    torch.Generator().manual_seed(spec.data.split_seed)
    assert shuffle_seed(MAX_SEED, MAX_EPOCHS) < 2**63
    for bad in (MAX_SEED + 1, -1):
        with pytest.raises(ValidationError):
            JobSpec(model="linear", seed=bad)
        with pytest.raises(ValidationError):
            DataSpec(split_seed=bad)


@pytest.mark.parametrize(
    "stem",
    ["ok", "my grid (v2)", "2024", "007", "_x", "...", "", "a/b", "é" * 300, "-" * 5, "\x00"],
)
def test_a_file_stem_always_makes_a_valid_sweep_name(stem):
    name = fit_sweep_name(stem)
    assert sweep_name_problem(name) is None, (stem, name)
    assert parse_grid('[grid]\nmodel = "linear"\n', stem).name == name


def test_the_grid_files_name_follows_the_rule():
    assert parse_grid('name = "a.b_c-1"\n[grid]\nmodel = "linear"\n', "g").name == "a.b_c-1"
    with pytest.raises(BadInput, match="^g.toml: name: must not be all digits"):
        parse_grid('name = "12"\n[grid]\nmodel = "linear"\n', "g", where="g.toml: ")
