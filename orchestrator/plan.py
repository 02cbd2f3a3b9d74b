"""From a validated grid to the rows a sweep is made of, and the task groups that train them.

No broker and no database here: `plan` is a pure function that unit tests call directly.
"""

from __future__ import annotations

from db.records import NewJob
from mnistgrid.core.stacking import fused_groups, group_key
from mnistgrid.core.stopping import hyperband_shares
from mnistgrid.spec import JobSpec
from orchestrator.grid import Grid, expand


def plan(grid: Grid, limit: int, group_size: int, group_bytes: int) -> list[NewJob]:
    """The sweep's jobs; those that train as one stack share a `group_key`. A stack holds at
    most `group_size` jobs, and fewer when they would need more than `group_bytes` of memory.
    Under Hyperband each job gets a bracket, and stacks never cross brackets."""
    specs = expand(grid, limit)
    bracket_of = brackets(grid, specs)
    groups = []
    for bracket in sorted(set(bracket_of.values()), key=lambda b: -1 if b is None else b):
        members = [s for s in specs if bracket_of[s.key()] == bracket]
        fused = grid.spec.fuse
        groups += (
            fused_groups(members, group_size, group_bytes) if fused else [[s] for s in members]
        )
    group_of = {s.key(): group_key(g) for g in groups if len(g) > 1 for s in g}
    return [new_job(s, group_of.get(s.key()), bracket_of[s.key()]) for s in specs]


def brackets(grid: Grid, specs: list[JobSpec]) -> dict[str, int | None]:
    """Each job's Hyperband bracket, dealt in the paper's proportions over the trained jobs in
    the order of their keys (so the same grid deals the same); None under any other rule."""
    rule = grid.spec.stop
    trained = sorted((s for s in specs if s.model != "baseline"), key=JobSpec.key)
    dealt: dict[str, int | None] = dict.fromkeys((s.key() for s in specs), None)
    if rule.rule != "hyperband":
        return dealt
    shares = hyperband_shares(rule, grid.spec.train.epochs, len(trained))
    order = iter(trained)
    for bracket, share in enumerate(shares):
        for _ in range(share):
            dealt[next(order).key()] = bracket
    return dealt


def new_job(spec: JobSpec, group_key: str | None = None, bracket: int | None = None) -> NewJob:
    """The row a job starts as; the baseline has no loss or lr."""
    trains = spec.model != "baseline"
    return NewJob(
        key=spec.key(),
        spec=spec.model_dump(mode="json"),
        model=spec.model,
        loss=spec.loss if trains else None,
        lr=spec.lr if trains else None,
        group_key=group_key,
        bracket=bracket,
    )
