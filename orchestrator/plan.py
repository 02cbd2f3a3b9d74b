"""From a validated grid to the rows a sweep is made of, and the task groups that train them.

No broker and no database here: `plan` is a pure function that unit tests call directly.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from db.records import NewJob
from mnistgrid.core.sizes import member_bytes
from mnistgrid.spec import JobSpec
from orchestrator.grid import Grid, expand


def plan(grid: Grid, limit: int, group_size: int, group_bytes: int) -> list[NewJob]:
    """The sweep's jobs; those that train as one stack share a `group_key`. A stack holds at
    most `group_size` jobs, and fewer when they would need more than `group_bytes` of memory."""
    specs = expand(grid, limit)
    groups = (
        fused_groups(specs, group_size, group_bytes) if grid.spec.fuse else [[s] for s in specs]
    )
    group_of = {s.key(): group_key(g) for g in groups if len(g) > 1 for s in g}
    return [new_job(s, group_of.get(s.key())) for s in specs]


def new_job(spec: JobSpec, group_key: str | None = None) -> NewJob:
    """The row a job starts as; the baseline has no loss or lr."""
    trains = spec.model != "baseline"
    return NewJob(
        key=spec.key(),
        spec=spec.model_dump(mode="json"),
        model=spec.model,
        loss=spec.loss if trains else None,
        lr=spec.lr if trains else None,
        group_key=group_key,
    )


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


def group_key(group: list[JobSpec]) -> str:
    return hashlib.sha256("".join(s.key() for s in group).encode()).hexdigest()[:16]
