"""Small random datasets for fast unit tests of the training core."""

from __future__ import annotations

import torch

from mnistgrid.core.train_data import TrainData


def synthetic_data(n_train: int = 600, n_valid: int = 200, n_classes: int = 10) -> TrainData:
    """Each class is a noisy copy of its own random prototype: sparse ink, like MNIST."""
    g = torch.Generator().manual_seed(1234)
    prototypes = (torch.rand(n_classes, 784, generator=g) > 0.85).float()

    def draw(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.randint(0, n_classes, (n,), generator=g)
        x = (prototypes[y] + 0.2 * torch.randn(n, 784, generator=g)).clamp(0, 1)
        return x, y

    x_train, y_train = draw(n_train)
    x_valid, y_valid = draw(n_valid)
    classes = tuple(range(n_classes)) if n_classes != 2 else (7, 3)
    return TrainData(x_train, y_train, x_valid, y_valid, classes, "synthetic")
