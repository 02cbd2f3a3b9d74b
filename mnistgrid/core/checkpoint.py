"""The checkpoint format: a member's parameters after an epoch, as `torch.save` bytes.

Tensors only, so `torch.load(..., weights_only=True)` reads it without running pickled code;
the store keeps the bytes and never looks inside.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import torch

from mnistgrid.core.learner import MemberState


def save_checkpoint(epoch: int, params: Sequence[torch.Tensor]) -> bytes:
    buffer = io.BytesIO()
    torch.save({"epoch": epoch, "params": list(params)}, buffer)
    return buffer.getvalue()


def load_checkpoint(state: bytes) -> MemberState:
    saved = torch.load(io.BytesIO(state), weights_only=True)  # tensors only, no pickled code
    return MemberState(saved["epoch"], tuple(saved["params"]))
