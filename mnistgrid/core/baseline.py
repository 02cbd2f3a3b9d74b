"""Post 1's pixel-similarity baseline: the mean image of each class, nearest by MAE or MSE."""

from __future__ import annotations

import time

import torch

from mnistgrid.core.results import EpochMetrics, FitResult
from mnistgrid.core.train_data import TrainData
from mnistgrid.spec import JobSpec

# The posts' distances as norms: the mean image nearest by mean absolute (MAE) or mean squared
# (MSE) difference is the nearest by L1 or L2 distance (a mean and a root keep the order).
NORMS = {"mae": 1.0, "mse": 2.0}


def class_means(x: torch.Tensor, y: torch.Tensor, n_classes: int) -> torch.Tensor:
    """The "ideal" digit of each class: (C,784)."""
    return torch.stack([x[y == c].mean(0) for c in range(n_classes)])


def predict(means: torch.Tensor, x: torch.Tensor, distance: str) -> torch.Tensor:
    """Class of the nearest mean image: (M,). `cdist` sums each image's differences without
    the posts' (M,C,784) broadcast, in half its time (benchmarks/bench_baseline.py) and with its
    predictions (tests/unit/test_baseline.py): exactly, not through a matmul, which would round
    near ties differently."""
    mode = "donot_use_mm_for_euclid_dist"
    return torch.cdist(x, means, p=NORMS[distance], compute_mode=mode).argmin(-1)


def per_class_accuracy(pred: torch.Tensor, y: torch.Tensor, n_classes: int) -> torch.Tensor:
    correct = (pred == y).float()
    hits = torch.zeros(n_classes, device=y.device).index_add_(0, y, correct)
    return hits / torch.bincount(y, minlength=n_classes).clamp(min=1)


def fit_baseline(spec: JobSpec, data: TrainData) -> FitResult:
    start = time.perf_counter()
    means = class_means(data.x_train, data.y_train, data.n_classes)
    pred = predict(means, data.x_valid, spec.distance)
    per_class = per_class_accuracy(pred, data.y_valid, data.n_classes)
    metrics = EpochMetrics(
        epoch=1,
        train_loss=None,
        valid_loss=None,
        valid_acc=(pred == data.y_valid).float().mean().item(),
        per_class_acc=tuple(per_class.tolist()),
        seconds=time.perf_counter() - start,
    )
    return FitResult("succeeded", (metrics,))
