"""The SGD core: the posts' pieces against torch, fused stacks against lone jobs, resume."""

from __future__ import annotations

import pytest
import torch

from mnistgrid.core.learner import BasicOptim, MemberState, StopTraining, calc_grad, fit
from mnistgrid.core.models import init_member, stack_members
from mnistgrid.spec import JobSpec
from tests.unit.synthetic import synthetic_data

DATA = synthetic_data()
CPU = torch.device("cpu")


def spec(**overrides) -> JobSpec:
    return JobSpec(
        **{
            "model": "linear",
            "epochs": 3,
            "batch_size": 64,
            "device": "cpu",
            "lr": 0.5,
            **overrides,
        }
    )


def test_basic_optim_step_equals_torch_sgd():
    job = spec(model="mlp", hidden=8)
    ours = stack_members([init_member(job, 10)], CPU)
    theirs = [p.detach().clone().requires_grad_() for p in ours]
    xb, yb = DATA.x_train[:64], DATA.y_train[:64]
    calc_grad(job, ours, xb, yb)
    BasicOptim(ours, torch.tensor([job.lr])).step()
    calc_grad(job, theirs, xb, yb)
    torch.optim.SGD(theirs, lr=job.lr).step()
    for a, b in zip(ours, theirs, strict=True):
        assert torch.allclose(a, b, atol=1e-7)


@pytest.mark.parametrize("n_classes", [10, 2])
def test_manual_gradient_equals_autograd(n_classes):
    data = synthetic_data(n_classes=n_classes)
    auto, manual = spec(gradient="autograd"), spec(gradient="manual")
    p_auto = stack_members([init_member(auto, n_classes)], CPU)
    p_manual = [p.detach().clone() for p in p_auto]
    xb, yb = data.x_train[:64], data.y_train[:64]
    loss_auto = calc_grad(auto, p_auto, xb, yb)
    loss_manual = calc_grad(manual, p_manual, xb, yb)
    assert torch.allclose(loss_auto, loss_manual)
    for a, m in zip(p_auto, p_manual, strict=True):
        assert torch.allclose(a.grad, m.grad, atol=1e-6)


def test_training_learns_and_is_deterministic_for_a_seed():
    first = fit([spec(epochs=5)], DATA)[0]
    again = fit([spec(epochs=5)], DATA)[0]
    assert first.final.valid_acc > 0.5
    assert [m.train_loss for m in first.epochs] == [m.train_loss for m in again.epochs]
    assert [m.per_class_acc for m in first.epochs] == [m.per_class_acc for m in again.epochs]


@pytest.mark.parametrize("model", ["linear", "mlp"])
@pytest.mark.parametrize("seeds", [(0, 0, 0), (0, 1, 2)])
def test_each_member_of_a_stack_equals_training_it_alone(model, seeds):
    jobs = [
        spec(model=model, hidden=16, lr=lr, seed=s)
        for lr, s in zip((0.1, 0.5, 1.0), seeds, strict=True)
    ]
    final_params = {}

    def keep_last(events):
        final_params.update({e.member: e.params for e in events})

    together = fit(jobs, DATA, keep_last)
    for member, (job, fused) in enumerate(zip(jobs, together, strict=True)):
        (alone,) = fit([job], DATA, keep_last)
        for a, f in zip(alone.epochs, fused.epochs, strict=True):
            assert f.train_loss == pytest.approx(a.train_loss, rel=1e-4)
            assert f.valid_loss == pytest.approx(a.valid_loss, rel=1e-4)
        fused_params = [p.clone() for p in final_params[member]]
        for p_alone, p_fused in zip(final_params[0], fused_params, strict=True):
            assert torch.allclose(p_alone, p_fused, rtol=1e-4, atol=1e-4)


def test_jobs_of_different_shapes_cannot_share_a_stack():
    with pytest.raises(ValueError, match="differ only in lr and seed"):
        fit([spec(), spec(loss="mnist_loss")], DATA)


def test_a_diverging_member_is_dropped_and_the_others_go_on():
    # lr 1e38 pushes the weights past float32's range within a step: logits inf, loss NaN.
    jobs = [spec(lr=0.5), spec(lr=1e38), spec(lr=0.1)]
    results = fit(jobs, DATA)
    assert [r.outcome for r in results] == ["succeeded", "diverged", "succeeded"]
    assert len(results[1].epochs) == 1
    assert len(results[0].epochs) == len(results[2].epochs) == 3
    alone = fit([jobs[2]], DATA)[0]
    assert [m.train_loss for m in results[2].epochs] == pytest.approx(
        [m.train_loss for m in alone.epochs], rel=1e-4
    )


def test_callback_sees_every_epoch_and_can_stop_training():
    seen = []

    def on_epoch_end(events):
        seen.append([(e.member, e.metrics.epoch) for e in events])
        if events[0].metrics.epoch == 2:
            raise StopTraining

    results = fit([spec(), spec(lr=0.1)], DATA, on_epoch_end)
    assert seen == [[(0, 1), (1, 1)], [(0, 2), (1, 2)]]
    assert [r.outcome for r in results] == ["interrupted", "interrupted"]


def test_resume_from_a_checkpoint_equals_an_uninterrupted_run():
    job = spec(epochs=4, model="mlp", hidden=16)
    states = {}
    full = fit([job], DATA, lambda evs: states.update({evs[0].metrics.epoch: evs[0].params}))[0]
    resumed = fit([job], DATA, start=[MemberState(2, states[2])])[0]
    assert [m.epoch for m in resumed.epochs] == [3, 4]
    assert [m.train_loss for m in resumed.epochs] == [m.train_loss for m in full.epochs[2:]]


def test_binary_task_has_one_output_and_two_class_accuracy():
    data = synthetic_data(n_classes=2)
    result = fit([spec(loss="mnist_loss", lr=1.0, epochs=5, init_std=0.1)], data)[0]
    assert len(result.final.per_class_acc) == 2
    assert result.final.valid_acc > 0.9
