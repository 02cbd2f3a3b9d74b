"""The tensors a training job reads: flattened, scaled to [0, 1], already on their device."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class TrainData:
    x_train: torch.Tensor  # (N, 784) float32
    y_train: torch.Tensor  # (N,) int64 class index in 0..C-1
    x_valid: torch.Tensor  # (M, 784) float32
    y_valid: torch.Tensor  # (M,) int64
    # The digit each class index stands for: (0, ..., 9), or for a pair (a, b) it is (b, a),
    # since the posts label the first digit of a pair 1 and the second 0.
    classes: tuple[int, ...]
    # sha256 of the source files' decoded content: a rerun can check it sees the same data.
    checksum: str

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def to(self, device: torch.device | str) -> TrainData:
        def move(t: torch.Tensor) -> torch.Tensor:
            return t.to(device, non_blocking=True)

        return TrainData(
            move(self.x_train),
            move(self.y_train),
            move(self.x_valid),
            move(self.y_valid),
            self.classes,
            self.checksum,
        )
