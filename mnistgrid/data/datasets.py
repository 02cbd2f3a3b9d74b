"""The tensors one job trains on: MNIST filtered to its digits, split, scaled, maybe standardised.

    python -c "from pathlib import Path; from mnistgrid.data.datasets import load_task; \
from mnistgrid.spec import DataSpec; \
print(load_task(Path('/data/mnist'), Path('/tmp/cache'), DataSpec(digits=(3, 7))).n_classes)"

Workers call `load_task` for every job, so results are kept per process, keyed by the data's
checksum and the DataSpec: a changed source is still noticed, an unchanged one costs a hash.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from mnistgrid.core.train_data import TrainData
from mnistgrid.data import mnist_source
from mnistgrid.data.memo import Memo
from mnistgrid.data.mnist_source import load_mnist
from mnistgrid.data.splits import MnistSplits
from mnistgrid.errors import DataError
from mnistgrid.settings import Settings
from mnistgrid.spec import DataSpec

# A ten-class task is ~220 MB of float32, held by every worker process.
_memo: Memo[tuple[str, DataSpec], TrainData] = Memo(size=2)


def load_task(source: Path | None, cache_dir: Path, spec: DataSpec) -> TrainData:
    """The CPU tensors for `spec`; shared between calls, so treat them as read-only."""
    splits = load_mnist(source, cache_dir)
    return _memo.get((splits.checksum, spec), lambda: build_task(splits, spec))


def task_loader(settings: Settings) -> Callable[[DataSpec], TrainData]:
    """`load_task` as the workers call it (`MNISTGRID_DATA_DIR`, or the download cache)."""
    return lambda spec: load_task(settings.data_dir, settings.cache_dir, spec)


def clear_memo() -> None:
    """Forget the tasks held in memory (the splits memo too); frees their tensors."""
    _memo.clear()
    mnist_source.clear_memo()


def build_task(splits: MnistSplits, spec: DataSpec) -> TrainData:
    train_images, y_train = select_digits(splits.train_images, splits.train_labels, spec.digits)
    if spec.valid == "test":
        valid_images, y_valid = select_digits(splits.test_images, splits.test_labels, spec.digits)
    else:
        train_idx, valid_idx = split_indices(len(y_train), spec.valid, spec.split_seed)
        valid_images, y_valid = train_images[valid_idx], y_train[valid_idx]
        train_images, y_train = train_images[train_idx], y_train[train_idx]
    if not len(y_train) or not len(y_valid):
        raise DataError(f"no training or no validation examples for {spec!r}")
    x_train, x_valid = flatten(train_images), flatten(valid_images)
    if spec.normalize:
        standardize(x_train, x_valid)
    return TrainData(x_train, y_train, x_valid, y_valid, spec.classes, splits.checksum)


def select_digits(
    images: torch.Tensor, labels: torch.Tensor, digits: tuple[int, int] | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """All images with y = digit, or a pair (a, b)'s images with y = 1 for `a`, 0 for `b`."""
    if digits is None:
        return images, labels
    a, b = digits
    keep = (labels == a) | (labels == b)
    return images[keep], (labels[keep] == a).long()


def split_indices(n: int, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Sorted (train, valid) indices of 0..n-1, with `fraction` of them drawn for validation."""
    if n < 2:
        raise DataError(f"cannot split {n} training examples into training and validation")
    n_valid = min(max(round(fraction * n), 1), n - 1)
    # A local generator: the split must not depend on, or disturb, the global RNG.
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return order[n_valid:].sort().values, order[:n_valid].sort().values


def flatten(images: torch.Tensor) -> torch.Tensor:
    return images.reshape(len(images), -1).to(torch.float32).div_(255)  # (N,28,28) -> (N,784)


def standardize(x_train: torch.Tensor, x_valid: torch.Tensor) -> None:
    """In place, with the training part's statistics only (MNIST: 0.1307 / 0.3081)."""
    mean, std = x_train.mean(), x_train.std()
    if std == 0:
        raise DataError("cannot normalize: every training pixel has the same value")
    for x in (x_train, x_valid):
        x.sub_(mean).div_(std)
