"""A linear stack on a shared batch, trained wide and by hand: `gradient = "manual"`'s fast path.

For the epoch, the K members' weights sit side by side as one (784, K*C) matrix, so that a
step is two GEMMs on it: `addmm` forward, and the update `W -= x.T @ (lr * dL/dz)` in place
(`addmm_`), with no gradient tensor, no autograd graph and no copy of the weights per step.
The gradients are backward.py's, which tests/unit/test_backward.py holds against autograd.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from mnistgrid.core.backward import logit_grad
from mnistgrid.core.losses import LOSSES
from mnistgrid.core.models import Params
from mnistgrid.core.train_data import TrainData


@torch.no_grad()
def train_epoch_wide(
    loss: str, params: Params, lrs: torch.Tensor, data: TrainData, batches: Iterable[torch.Tensor]
) -> torch.Tensor:
    """One epoch of SGD over `batches` (index tensors (B,), shared by every member); the
    stacked `params` (K,784,C) and (K,C) are updated in place. Returns each member's mean
    training loss (K,)."""
    w, b = params
    k, n_in, n_out = w.shape
    # A copy (never a view of w, which it is written back into), members side by side.
    wide = w.transpose(0, 1).clone(memory_format=torch.contiguous_format).view(n_in, k * n_out)
    bias = b.reshape(k * n_out).clone()
    lr = lrs.repeat_interleave(n_out)  # (K*C,): each member's lr over its C columns
    total = torch.zeros(k, device=w.device)
    for idx in batches:
        xb, yb = data.x_train.index_select(0, idx), data.y_train.index_select(0, idx)
        z = torch.addmm(bias, xb, wide).view(len(idx), k, n_out)  # (B,K,C)
        batch_loss, grad = loss_and_grad(loss, z, yb)
        total += batch_loss * len(idx)
        step = grad.reshape(len(idx), k * n_out).mul_(lr)
        wide.addmm_(xb.T, step, alpha=-1)
        bias.sub_(step.sum(0))
    w.copy_(wide.view(n_in, k, n_out).transpose(0, 1))
    b.copy_(bias.view(k, n_out))
    return total / len(data.y_train)


def loss_and_grad(
    loss: str, z: torch.Tensor, targets: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each member's mean batch loss (K,) and dL/dz (B,K,C), from batch-first logits (B,K,C)."""
    if loss == "cross_entropy" and z.shape[-1] > 1:
        return cross_entropy_and_grad(z, targets)
    by_member = z.transpose(0, 1)  # (K,B,C), the layout losses.py and backward.py take
    return LOSSES[loss](by_member, targets), logit_grad(loss, by_member, targets).transpose(0, 1)


def cross_entropy_and_grad(
    z: torch.Tensor, targets: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy and its gradient (softmax - onehot) / B from one logsumexp, batch-first:
    a quarter of the time of losses.py's and backward.py's apart on a (K,B,C) view, which
    took near half of a wide step (docs/benchmarks.md)."""
    batch, k, _ = z.shape
    right = targets.view(batch, 1, 1).expand(batch, k, 1)
    lse = z.logsumexp(-1, keepdim=True)  # (B,K,1)
    loss = (lse - z.gather(-1, right)).mean(0).view(k)
    grad = (z - lse).exp_()  # softmax
    grad.scatter_add_(-1, right, torch.full_like(lse, -1.0))
    return loss, grad.div_(batch)
