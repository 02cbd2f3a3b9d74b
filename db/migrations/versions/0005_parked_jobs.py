"""synchronous successive halving: parked jobs, the rung a job was promoted past, its bracket

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 20:00:00

- jobs.status `parked`: a job waiting at a rung for the rest of its bracket (rules `sha` and
  `hyperband`); not terminal, never sent again by the reconcile, and no worker holds it.
- jobs.cleared_rung: the last rung the job was promoted past (0: none yet), so that a job
  resumed from a rung's checkpoint knows whether that rung's decision was made.
- jobs.bracket: the job's Hyperband bracket (NULL for every other rule).
SQLite cannot alter a CHECK constraint, so batch mode rebuilds the table there.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the model's constant: a revision must not change when the models do.
BEFORE = "'queued', 'running', 'succeeded', 'diverged', 'stopped', 'failed', 'cancelled'"
AFTER = "'queued', 'running', 'parked', 'succeeded', 'diverged', 'stopped', 'failed', 'cancelled'"


def upgrade() -> None:
    with op.batch_alter_table("jobs") as jobs:
        jobs.add_column(
            sa.Column("cleared_rung", sa.Integer(), nullable=False, server_default="0")
        )
        jobs.add_column(sa.Column("bracket", sa.Integer(), nullable=True))
        jobs.drop_constraint(op.f("ck_jobs_status"), type_="check")
        jobs.create_check_constraint("status", f"status IN ({AFTER})")


def downgrade() -> None:
    # A parked job waits for a decision this schema cannot make: it is queued to run on.
    op.execute("UPDATE jobs SET status = 'queued' WHERE status = 'parked'")
    with op.batch_alter_table("jobs") as jobs:
        jobs.drop_constraint(op.f("ck_jobs_status"), type_="check")
        jobs.create_check_constraint("status", f"status IN ({BEFORE})")
        jobs.drop_column("bracket")
        jobs.drop_column("cleared_rung")
