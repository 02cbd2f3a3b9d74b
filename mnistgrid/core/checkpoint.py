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
    # Tensors only, no pickled code; onto the CPU, so that a checkpoint written with CUDA
    # tensors in it resumes on a machine without a GPU (fit moves them to the job's device).
    saved = torch.load(io.BytesIO(state), map_location="cpu", weights_only=True)
    return MemberState(saved["epoch"], tuple(saved["params"]))
