"""The backward pass by hand, for a stack of K members: every model and every loss.

Post 3 derives the gradient of linear + cross-entropy by hand and checks it against autograd;
this is the same for the rest: each loss's gradient with respect to the logits, then the
layers' chain rule. No graph is built, so a step costs its matmuls and a few elementwise ops.
tests/unit/test_backward.py holds every case against autograd.
"""

from __future__ import annotations

import torch

from mnistgrid.core.losses import LOSSES, cross_entropy_logit_grad, one_hot
from mnistgrid.core.models import ACTIVATIONS, Params, layer
from mnistgrid.spec import JobSpec

# Each activation's derivative, from its output h: sigmoid' = h(1-h), relu' = [h > 0].
SLOPES = {"sigmoid": lambda h: h * (1 - h), "relu": lambda h: (h > 0).to(h.dtype)}


def logit_grad(loss: str, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """dL/dz (K,B,C) of each member's mean loss over its batch (losses.py's definitions)."""
    if loss == "cross_entropy":
        return cross_entropy_logit_grad(logits, targets)
    batch, n_out = logits.shape[-2], logits.shape[-1]
    if n_out == 1:  # a pair: one logit through a sigmoid
        p = logits.sigmoid()
        t = targets.float().unsqueeze(-1)
        if loss == "mnist_loss":  # where(t, 1 - p, p): d/dz is -p(1-p) or p(1-p)
            return torch.where(t == 1, -1.0, 1.0) * p * (1 - p) / batch
        return 2 * (p - t) * p * (1 - p) / batch  # softmax_mse: (t - p)^2
    target = one_hot(targets, n_out)
    if loss == "mnist_loss":  # mean over (B,C) of (onehot - sigmoid(z))^2
        p = logits.sigmoid()
        return 2 * (p - target) * p * (1 - p) / (batch * n_out)
    s = logits.softmax(-1)  # softmax_mse: mean over (B,C) of (onehot - softmax(z))^2
    g = 2 * (s - target) / (batch * n_out)  # dL/ds
    return s * (g - (g * s).sum(-1, keepdim=True))  # through the softmax's Jacobian


def weight_grad(x: torch.Tensor, dz: torch.Tensor) -> torch.Tensor:
    """dL/dW (K,n,m) of `layer(x, W, b)` given dL/dz (K,B,m): x shared (B,n) or (K,B,n)."""
    if x.dim() == 2:
        # One wide matmul: (n,B) @ (B,K*m) -> (n,K,m) -> (K,n,m).
        k, batch, m = dz.shape
        wide = x.T @ dz.transpose(0, 1).reshape(batch, k * m)
        return wide.view(x.shape[1], k, m).transpose(0, 1)
    return torch.bmm(x.transpose(1, 2), dz)  # (K,n,B) @ (K,B,m)


@torch.no_grad()
def calc_grad_by_hand(
    spec: JobSpec, params: Params, xb: torch.Tensor, yb: torch.Tensor
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Each member's batch loss (K,) and the gradients of `params`, in their order."""
    if spec.model == "linear":
        w, b = params
        logits = layer(xb, w, b)  # (K,B,C)
        dz = logit_grad(spec.loss, logits, yb)
        return LOSSES[spec.loss](logits, yb), [weight_grad(xb, dz), dz.sum(-2)]
    w1, b1, w2, b2 = params
    hidden = ACTIVATIONS[spec.activation](layer(xb, w1, b1))  # (K,B,H)
    logits = layer(hidden, w2, b2)  # (K,B,C)
    dz = logit_grad(spec.loss, logits, yb)
    dh = torch.bmm(dz, w2.transpose(1, 2))  # (K,B,C) @ (K,C,H) -> (K,B,H)
    da = dh * SLOPES[spec.activation](hidden)  # (K,B,H), through the activation
    grads = [weight_grad(xb, da), da.sum(-2), weight_grad(hidden, dz), dz.sum(-2)]
    return LOSSES[spec.loss](logits, yb), grads
