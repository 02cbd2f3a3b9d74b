"""The training core on CUDA: the CPU's numbers, and checkpoints that cross between the two.

    python -m pytest -m cuda tests/unit/test_cuda.py

Every test takes its devices as parameters. The CPU cases run everywhere (CI, and the CPU
rehearsal of benchmarks/gpu_proof.py); the CUDA cases skip where torch sees no GPU, unless
MNISTGRID_TEST_REQUIRE_CUDA=1: the GPU proof sets it, so that a broken CUDA fails there instead
of skipping.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import pytest
import torch

from benchmarks.bench_baseline import posts_predict
from mnistgrid.core.baseline import class_means, predict
from mnistgrid.core.checkpoint import load_checkpoint, save_checkpoint
from mnistgrid.core.learner import calc_grad, fit, resolve_device
from mnistgrid.core.models import init_member, member_shapes, stack_members
from mnistgrid.core.results import EpochMetrics, FitResult, MemberEpoch
from mnistgrid.spec import JobSpec
from tests.unit.synthetic import synthetic_data

pytestmark = pytest.mark.cuda

REQUIRED = os.environ.get("MNISTGRID_TEST_REQUIRE_CUDA") == "1"
needs_cuda = pytest.mark.skipif(
    not (torch.cuda.is_available() or REQUIRED), reason="torch sees no CUDA device"
)
CUDA = pytest.param("cuda", marks=needs_cuda)
DATA = synthetic_data()
# Float32 sums in another order (another matmul shape, another device's kernels) differ in the
# last bits: on the CPU a stack and its jobs alone differ by up to 3e-6 after three epochs. So
# 1e-4 on one device, as in test_learner, and ten times that across devices: still far below
# what a wrong gradient, a lost step or a wrong shuffle would change.
SAME_DEVICE = {"rel": 1e-4, "abs": 1e-4}
ACROSS_DEVICES = {"rel": 1e-3, "abs": 1e-3}


def spec(device: str, **overrides: object) -> JobSpec:
    fields = {"model": "linear", "epochs": 3, "batch_size": 64, "lr": 0.5, "device": device}
    return JobSpec(**{**fields, **overrides})


def train(jobs: list[JobSpec]) -> tuple[list[FitResult], dict[int, tuple[torch.Tensor, ...]]]:
    """Fit `jobs` as one stack; also returns each member's parameters after the last epoch."""
    last: dict[int, tuple[torch.Tensor, ...]] = {}

    def keep_last(events: list[MemberEpoch]) -> None:
        last.update({e.member: e.params for e in events})

    return fit(jobs, DATA, keep_last), last


def assert_same_run(
    a: Sequence[EpochMetrics], b: Sequence[EpochMetrics], tolerance: dict[str, float]
) -> None:
    assert [m.epoch for m in a] == [m.epoch for m in b]
    for x, y in zip(a, b, strict=True):
        assert x.train_loss == pytest.approx(y.train_loss, **tolerance)
        assert x.valid_loss == pytest.approx(y.valid_loss, **tolerance)


def assert_same_params(
    a: tuple[torch.Tensor, ...], b: tuple[torch.Tensor, ...], tolerance: dict[str, float]
) -> None:
    for p, q in zip(a, b, strict=True):
        assert torch.allclose(p.cpu(), q.cpu(), rtol=tolerance["rel"], atol=tolerance["abs"])


@pytest.mark.parametrize(
    ("name", "expected"), [("cpu", "cpu"), pytest.param("cuda", "cuda:0", marks=needs_cuda)]
)
def test_a_job_names_the_device_it_trains_on_with_its_index(name, expected):
    assert str(resolve_device(name)) == expected


@pytest.mark.parametrize("device", ["cpu", CUDA])
@pytest.mark.parametrize("distance", ["mae", "mse"])
def test_the_baseline_predicts_the_posts_classes(device, distance):
    means = class_means(DATA.x_train, DATA.y_train, DATA.n_classes)
    expected = posts_predict(means, DATA.x_valid, distance)
    assert torch.equal(
        predict(means.to(device), DATA.x_valid.to(device), distance).cpu(), expected
    )


def test_without_a_gpu_a_cuda_job_fails_at_once_with_a_clear_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # as on a CPU worker
    with pytest.raises(RuntimeError, match="sees no CUDA device"):
        fit([spec("cuda")], DATA)


@pytest.mark.parametrize("device", ["cpu", CUDA])
@pytest.mark.parametrize("n_classes", [10, 2])
def test_manual_gradient_equals_autograd(device, n_classes):
    data = synthetic_data(n_classes=n_classes).to(device)
    auto, manual = spec(device, gradient="autograd"), spec(device, gradient="manual")
    p_auto = stack_members([init_member(auto, n_classes)], torch.device(device))
    p_manual = [p.detach().clone() for p in p_auto]
    xb, yb = data.x_train[:64], data.y_train[:64]
    loss_auto = calc_grad(auto, p_auto, xb, yb)
    loss_manual = calc_grad(manual, p_manual, xb, yb)
    assert loss_manual.device.type == device
    assert torch.allclose(loss_auto, loss_manual, rtol=1e-5, atol=1e-6)
    for a, m in zip(p_auto, p_manual, strict=True):
        assert torch.allclose(a.grad, m.grad, atol=1e-6)


@pytest.mark.parametrize("device", ["cpu", CUDA])
@pytest.mark.parametrize("model", ["linear", "mlp"])
@pytest.mark.parametrize("seeds", [(0, 0, 0), (0, 1, 2)], ids=["one-seed", "mixed-seeds"])
@pytest.mark.parametrize("gradient", ["autograd", "manual"])  # manual, linear, one seed: wide
def test_a_stack_equals_its_jobs_trained_alone_there_and_on_the_cpu(
    device, model, seeds, gradient
):
    jobs = [
        spec(device, model=model, hidden=16, lr=lr, seed=seed, gradient=gradient)
        for lr, seed in zip((0.1, 0.5, 1.0), seeds, strict=True)
    ]
    together, fused_params = train(jobs)
    for member, job in enumerate(jobs):
        alone, alone_params = train([job])
        on_cpu, cpu_params = train([job.model_copy(update={"device": "cpu"})])
        assert_same_run(together[member].epochs, alone[0].epochs, SAME_DEVICE)
        assert_same_params(fused_params[member], alone_params[0], SAME_DEVICE)
        assert_same_run(together[member].epochs, on_cpu[0].epochs, ACROSS_DEVICES)
        assert_same_params(fused_params[member], cpu_params[0], ACROSS_DEVICES)


@pytest.mark.parametrize(
    ("saved_on", "resumed_on"),
    [
        ("cpu", "cpu"),
        pytest.param("cuda", "cpu", marks=needs_cuda),
        pytest.param("cpu", "cuda", marks=needs_cuda),
    ],
)
def test_a_checkpoint_saved_on_one_device_resumes_on_the_other(saved_on, resumed_on):
    job = spec(saved_on, model="mlp", hidden=16, epochs=4)
    checkpoints: dict[int, bytes] = {}

    def save(events: list[MemberEpoch]) -> None:
        # The tensors as they sit on the device that trained them: the harder case, since the
        # worker itself saves CPU copies.
        event = events[0]
        on_device = [p.to(saved_on) for p in event.params]
        checkpoints[event.metrics.epoch] = save_checkpoint(event.metrics.epoch, on_device)

    full = fit([job], DATA, save)[0]
    state = load_checkpoint(checkpoints[2], member_shapes(job, DATA.n_classes))
    assert state.epoch == 2
    assert {p.device.type for p in state.params} == {"cpu"}  # loads where there is no GPU
    there = job.model_copy(update={"device": resumed_on})
    resumed = fit([there], DATA, start=[state])[0]
    uninterrupted = fit([there], DATA)[0]
    assert [m.epoch for m in resumed.epochs] == [3, 4]
    assert_same_run(resumed.epochs, uninterrupted.epochs[2:], SAME_DEVICE)
    tolerance = SAME_DEVICE if saved_on == resumed_on else ACROSS_DEVICES
    assert_same_run(resumed.epochs, full.epochs[2:], tolerance)
