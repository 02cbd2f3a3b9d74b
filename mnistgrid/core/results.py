"""What training produces: per-epoch metrics and the end of a job, as plain frozen records."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch

# stopped: by an early-stopping rule; interrupted: by the caller (StopTraining).
Outcome = Literal["succeeded", "diverged", "stopped", "interrupted"]


@dataclass(frozen=True)
class EpochMetrics:
    epoch: int  # 1-based: epoch 1 is the state after one pass over the training set
    train_loss: float | None  # None for the baseline, which does not train
    valid_loss: float | None
    valid_acc: float
    per_class_acc: tuple[float, ...]  # aligned with TrainData.classes
    seconds: float

    @property
    def mean_class_acc(self) -> float:
        return sum(self.per_class_acc) / len(self.per_class_acc)


@dataclass(frozen=True)
class MemberEpoch:
    """One member's epoch, handed to the `on_epoch_end` callback."""

    member: int  # index into the specs given to `fit`
    metrics: EpochMetrics
    diverged: bool
    params: tuple[torch.Tensor, ...] = field(repr=False)  # detached CPU copies


@dataclass(frozen=True)
class FitResult:
    outcome: Outcome
    epochs: tuple[EpochMetrics, ...]

    @property
    def final(self) -> EpochMetrics | None:
        return self.epochs[-1] if self.epochs else None

    @property
    def best(self) -> EpochMetrics | None:
        return max(self.epochs, key=lambda m: m.valid_acc, default=None)

    @property
    def train_seconds(self) -> float:
        return sum(m.seconds for m in self.epochs)
