"""The three losses of the posts, each giving one value per member: (K,B,C) logits -> (K,).

With one output (a digit pair) the logit z stands for the two-class logits (0, z), so that
softmax_mse and cross_entropy keep their meaning: softmax((0, z)) = (1 - sigmoid(z), sigmoid(z)).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def one_hot(targets: torch.Tensor, n_classes: int) -> torch.Tensor:
    return F.one_hot(targets, n_classes).float()


def mnist_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Sigmoid, then distance to the target: post 2's `where` for a pair, post 1's one-hot MSE."""
    p = logits.sigmoid()
    if logits.shape[-1] == 1:
        return torch.where(targets == 1, 1 - p[..., 0], p[..., 0]).mean(-1)
    return ((one_hot(targets, logits.shape[-1]) - p) ** 2).mean((-2, -1))


def softmax_mse(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Post 1's `mnist_loss_softmax`: squared error between softmax and one-hot."""
    if logits.shape[-1] == 1:
        return ((targets.float() - logits[..., 0].sigmoid()) ** 2).mean(-1)
    return ((one_hot(targets, logits.shape[-1]) - logits.softmax(-1)) ** 2).mean((-2, -1))


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """-log softmax of the right class, through log_softmax so large logits cannot overflow."""
    if logits.shape[-1] == 1:
        z, t = logits[..., 0], targets.float().expand_as(logits[..., 0])
        return F.binary_cross_entropy_with_logits(z, t, reduction="none").mean(-1)
    log_p = logits.log_softmax(-1)  # (K,B,C)
    index = targets.expand(log_p.shape[:-1]).unsqueeze(-1)  # (K,B,1)
    return -log_p.gather(-1, index).squeeze(-1).mean(-1)


LOSSES: dict[str, LossFn] = {
    "mnist_loss": mnist_loss,
    "softmax_mse": softmax_mse,
    "cross_entropy": cross_entropy,
}


def predictions(logits: torch.Tensor) -> torch.Tensor:
    """Predicted class index (K,B): argmax, or for one sigmoid output, probability above 0.5."""
    if logits.shape[-1] == 1:
        return (logits[..., 0] > 0).long()
    return logits.argmax(-1)


def cross_entropy_logit_grad(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """dL/dz of mean cross-entropy, derived by hand in post 3: (softmax - onehot) / B."""
    batch = logits.shape[-2]
    if logits.shape[-1] == 1:
        return (logits.sigmoid() - targets.float().unsqueeze(-1)) / batch
    return (logits.softmax(-1) - one_hot(targets, logits.shape[-1])) / batch
