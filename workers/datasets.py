"""The tensors one job trains on: MNIST filtered to its digits, split, scaled, maybe standardised.

    python -c "from pathlib import Path; from workers.datasets import load_task; \
from workers.spec import DataSpec; \
print(load_task(Path('/data/mnist'), Path('/tmp/cache'), DataSpec(digits=(3, 7))).n_classes)"

Workers call `load_task` for every job, so results are kept per process, keyed by the data's
checksum and the DataSpec: a changed source is still noticed, an unchanged one costs a hash.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import torch

from mnistgrid.errors import DataError
from workers import mnist_source
from workers.mnist_source import MnistSplits, load_mnist
from workers.spec import DataSpec
from workers.train_data import TrainData

MEMO_SIZE = 2  # a ten-class task is ~220 MB of float32, held by every worker process
_memo: OrderedDict[tuple[str, DataSpec], TrainData] = OrderedDict()


def load_task(source: Path | None, cache_dir: Path, spec: DataSpec) -> TrainData:
    """The CPU tensors for `spec`; shared between calls, so treat them as read-only."""
    splits = load_mnist(source, cache_dir)
    key = (splits.checksum, spec)
    if key in _memo:
        _memo.move_to_end(key)
        return _memo[key]
    data = build_task(splits, spec)
    _memo[key] = data
    while len(_memo) > MEMO_SIZE:
        _memo.popitem(last=False)
    return data


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
    classes = tuple(range(10)) if spec.digits is None else (spec.digits[1], spec.digits[0])
    return TrainData(x_train, y_train, x_valid, y_valid, classes, splits.checksum)


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
