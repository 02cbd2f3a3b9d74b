"""The models of the source posts, for a stack of K same-shape members trained side by side.

A single job is a stack of one. Parameters carry the member on a leading axis, so one forward
pass evaluates every member: `(B,784) @ (K,784,C) -> (K,B,C)`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from mnistgrid.core.sizes import N_PIXELS, n_outputs
from mnistgrid.spec import JobSpec

Params = list[torch.Tensor]


def init_params(size: tuple[int, ...], std: float, generator: torch.Generator) -> torch.Tensor:
    """The posts' `init_params`: `randn(size) * std`, drawn from a job-local generator."""
    return torch.randn(size, generator=generator) * std


def member_shapes(spec: JobSpec, n_classes: int) -> list[tuple[int, ...]]:
    """The shapes of one member's parameters, in the posts' order: weights, then biases."""
    n_out = n_outputs(n_classes)
    if spec.model == "linear":
        return [(N_PIXELS, n_out), (n_out,)]
    if spec.model == "mlp":
        return [(N_PIXELS, spec.hidden), (spec.hidden,), (spec.hidden, n_out), (n_out,)]
    raise ValueError(f"model {spec.model!r} has no parameters")


def init_member(spec: JobSpec, n_classes: int) -> Params:
    """One member's parameters, drawn in the posts' order from a job-local generator."""
    g = torch.Generator().manual_seed(spec.seed)
    return [init_params(size, spec.init_std, g) for size in member_shapes(spec, n_classes)]


def stack_members(members: Sequence[Params], device: torch.device) -> Params:
    """Stack per-member tensors on a new leading axis K and make them leaves that track grads."""
    return [
        torch.stack(list(tensors)).to(device).requires_grad_()
        for tensors in zip(*members, strict=True)
    ]


def layer(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """`x @ w + b` for every member. x is shared (B,n) or per member (K,B,n)."""
    k, n_in, n_out = w.shape
    if x.dim() == 2:
        # One wide matmul instead of K narrow ones: (B,n) @ (n,K*m) -> (B,K,m) -> (K,B,m).
        wide = w.transpose(0, 1).reshape(n_in, k * n_out)
        out = (x @ wide).view(x.shape[0], k, n_out).transpose(0, 1)
    else:
        out = torch.bmm(x, w)  # (K,B,n) @ (K,n,m) -> (K,B,m)
    return out + b[:, None, :]  # (K,m) -> (K,1,m)


ACTIVATIONS = {"sigmoid": torch.sigmoid, "relu": torch.relu}


def forward(spec: JobSpec, params: Params, x: torch.Tensor) -> torch.Tensor:
    """Logits (K,B,C) of every member."""
    if spec.model == "linear":
        w, b = params
        return layer(x, w, b)
    w1, b1, w2, b2 = params
    hidden = ACTIVATIONS[spec.activation](layer(x, w1, b1))  # (K,B,H)
    return layer(hidden, w2, b2)  # (K,B,H) @ (K,H,C) -> (K,B,C)
