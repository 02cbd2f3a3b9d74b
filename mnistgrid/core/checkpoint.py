"""The checkpoint format: a member's parameters after an epoch, as `torch.save` bytes.

Tensors only, read back with `torch.load(..., weights_only=True)`, which runs no pickled code
(torch >= 2.10: below 2.6 it could, CVE-2025-32434, and 2.10 fixed a memory corruption in it,
CVE-2026-24747). Bytes that do not decode, or hold other shapes than the job's model, are a
`BadCheckpoint`: the job fails with it instead of training from something it did not write.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import torch

from mnistgrid.core.learner import MemberState


class BadCheckpoint(ValueError):
    pass


def save_checkpoint(epoch: int, params: Sequence[torch.Tensor]) -> bytes:
    buffer = io.BytesIO()
    torch.save({"epoch": epoch, "params": list(params)}, buffer)
    return buffer.getvalue()


def load_checkpoint(state: bytes, shapes: Sequence[tuple[int, ...]]) -> MemberState:
    """The member state in `state`, whose parameters must have `shapes`."""
    try:
        # Onto the CPU, so that a checkpoint written on a GPU resumes on a machine without one.
        saved = torch.load(io.BytesIO(state), map_location="cpu", weights_only=True)
        epoch, params = saved["epoch"], tuple(saved["params"])
    except Exception as error:  # noqa: BLE001 - whatever the bytes hold, they are not ours
        why = f"{type(error).__name__}: {error}".splitlines()[0]
        raise BadCheckpoint(f"checkpoint does not decode: {why}") from None
    found = [tuple(p.shape) if isinstance(p, torch.Tensor) else None for p in params]
    if not isinstance(epoch, int) or epoch < 1 or found != [tuple(s) for s in shapes]:
        raise BadCheckpoint(
            f"checkpoint holds epoch {epoch!r} and parameters of shapes {found}; the job's "
            f"model has {[tuple(s) for s in shapes]}"
        )
    return MemberState(epoch, params)
