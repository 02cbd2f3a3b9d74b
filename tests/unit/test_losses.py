"""The losses against their definitions in the posts, written out the posts' way."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from mnistgrid.core.losses import cross_entropy, mnist_loss, predictions, softmax_mse


@pytest.fixture
def batch() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.randn(3, 16, 10, generator=g) * 3, torch.randint(0, 10, (16,), generator=g)


def test_mnist_loss_is_sigmoid_against_one_hot(batch):
    logits, y = batch
    expected = ((F.one_hot(y, 10) - logits[1].sigmoid()) ** 2).mean()  # post 1
    assert mnist_loss(logits, y)[1].item() == pytest.approx(expected.item(), rel=1e-6)


def test_softmax_mse_is_post1_mnist_loss_softmax(batch):
    logits, y = batch
    expected = ((F.one_hot(y, 10) - torch.softmax(logits[2], axis=1)) ** 2).mean()
    assert softmax_mse(logits, y)[2].item() == pytest.approx(expected.item(), rel=1e-6)


def test_cross_entropy_matches_post1_and_torch(batch):
    logits, y = batch
    p = torch.softmax(logits[0], axis=1)
    post = -torch.log(p[range(16), y]).mean()  # post 1's cross_entropy_loss
    assert cross_entropy(logits, y)[0].item() == pytest.approx(post.item(), rel=1e-5)
    assert cross_entropy(logits, y)[0].item() == pytest.approx(
        F.cross_entropy(logits[0], y).item()
    )


def test_cross_entropy_stays_finite_where_the_naive_form_overflows():
    logits = torch.tensor([[[1000.0, -1000.0, 0.0]]])
    assert torch.isfinite(cross_entropy(logits, torch.tensor([1]))).all()


def test_binary_mnist_loss_is_post2_where():
    z = torch.tensor([[[2.0], [-1.0], [0.5]]])
    t = torch.tensor([1, 0, 0])
    p = z[0, :, 0].sigmoid()
    expected = torch.where(t == 1, 1 - p, p).mean()
    assert mnist_loss(z, t).item() == pytest.approx(expected.item())


def test_binary_losses_equal_the_two_class_softmax_forms():
    z = torch.tensor([[[2.0], [-1.0], [0.5]]])
    t = torch.tensor([1, 0, 1])
    two_class = torch.cat([torch.zeros_like(z), z], -1)  # logits (0, z)
    assert cross_entropy(z, t).item() == pytest.approx(
        cross_entropy(two_class, t).item(), rel=1e-6
    )
    assert softmax_mse(z, t).item() == pytest.approx(softmax_mse(two_class, t).item(), rel=1e-6)
    assert predictions(z).tolist() == predictions(two_class).tolist()
