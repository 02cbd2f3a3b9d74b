"""early stopping: a job a sweep's stopping rule ended is `stopped`

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 18:00:00

`stopped` is terminal like `succeeded`: the job keeps its epochs and checkpoint, is no failure,
and `mnistgrid resume` does not run it again. SQLite cannot alter a CHECK constraint, so batch
mode rebuilds the table there.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the model's constant: a revision must not change when the models do.
BEFORE = "'queued', 'running', 'succeeded', 'diverged', 'failed', 'cancelled'"
AFTER = "'queued', 'running', 'succeeded', 'diverged', 'stopped', 'failed', 'cancelled'"


def upgrade() -> None:
    with op.batch_alter_table("jobs") as jobs:
        jobs.drop_constraint(op.f("ck_jobs_status"), type_="check")
        jobs.create_check_constraint("status", f"status IN ({AFTER})")


def downgrade() -> None:
    op.execute("UPDATE jobs SET status = 'cancelled' WHERE status = 'stopped'")
    with op.batch_alter_table("jobs") as jobs:
        jobs.drop_constraint(op.f("ck_jobs_status"), type_="check")
        jobs.create_check_constraint("status", f"status IN ({BEFORE})")
