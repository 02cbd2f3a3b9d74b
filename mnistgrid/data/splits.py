"""MNIST as four tensors: what every source (idx files, a PNG tree, a download) decodes to."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class MnistSplits:
    """Both splits, shared between callers: treat the tensors as read-only."""

    train_images: torch.Tensor  # (N, 28, 28) uint8
    train_labels: torch.Tensor  # (N,) int64
    test_images: torch.Tensor  # (M, 28, 28) uint8
    test_labels: torch.Tensor  # (M,) int64
    # sha256 of the content written as idx files (the decompressed files, concatenated in
    # train images, train labels, test images, test labels order): the same for gz and raw
    # copies. A PNG tree reads back sorted by digit, so its checksum is the one of idx files
    # written in that order.
    checksum: str
