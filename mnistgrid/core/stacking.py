"""Which jobs train together as one stack: the same shape, within a size and a memory bound.

Plain arithmetic on specs (no torch): the orchestrator plans a sweep's stacks with it, and the
store re-stacks the survivors of a synchronous rung with it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from mnistgrid.core.sizes import member_bytes
from mnistgrid.spec import JobSpec


def fused_groups(specs: list[JobSpec], group_size: int, group_bytes: int) -> list[list[JobSpec]]:
    """Jobs that differ only in lr and seed, in stacks that fit the size and memory bounds.

    Members that share a seed share every mini-batch, which lets a stack run as one wide
    matmul (about 3x faster than members drawing their own batches, `docs/benchmarks.md`),
    so stacks are made per seed first; jobs left alone by that are stacked across seeds.
    """
    groups = []
    for same_shape in by_key(specs, shape_of).values():
        size = stack_size(same_shape[0], group_size, group_bytes)
        per_seed = [c for same in by_key(same_shape, seed_of).values() for c in chunks(same, size)]
        groups += [c for c in per_seed if len(c) > 1]
        groups += chunks([c[0] for c in per_seed if len(c) == 1], size)
    return groups


def shape_of(spec: JobSpec) -> str:
    return "baseline" + spec.key() if spec.model == "baseline" else spec.shape_key()


def seed_of(spec: JobSpec) -> int:
    return spec.seed


def by_key(specs: list[JobSpec], key: Callable[[JobSpec], object]) -> dict[object, list[JobSpec]]:
    grouped: dict[object, list[JobSpec]] = {}
    for spec in specs:
        grouped.setdefault(key(spec), []).append(spec)
    return grouped


def chunks(specs: list[JobSpec], size: int) -> list[list[JobSpec]]:
    return [specs[i : i + size] for i in range(0, len(specs), size)]


def stack_size(spec: JobSpec, group_size: int, group_bytes: int) -> int:
    if spec.model == "baseline":
        return 1
    return max(1, min(group_size, group_bytes // member_bytes(spec)))


def group_key(group: list[JobSpec], salt: str = "") -> str:
    """The stack's id, the same for the same members (and `salt`: a rung re-stacks them)."""
    text = salt + "".join(s.key() for s in group)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
