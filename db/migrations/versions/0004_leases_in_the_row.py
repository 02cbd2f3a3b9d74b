"""leases in the row: each lease's end, and which starts count against the attempt limit

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 18:00:00

- jobs.lease_until: when the holder's lease runs out, written by the holder with its own
  MNISTGRID_LEASE_SECONDS at every renewal. Readers compare it with the clock instead of
  judging `heartbeat_at` by a lease length of their own, which may differ from the holder's.
- jobs.start_epoch: the epoch the current start resumed after (0: from scratch). A start that
  ends lost without storing a later epoch made no progress.
- jobs.lost_attempts: starts lost without progress, what MNISTGRID_MAX_ATTEMPTS bounds. A
  hand-back at a warm shutdown is not a loss, and a start that stored an epoch is not charged.
- ix_jobs_status_lease_until replaces ix_jobs_status_heartbeat_at: the reconcile's scan of every
  sweep for expired leases.

A running job of an older worker gets the default lease (120 s) from its last heartbeat.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copy of the default MNISTGRID_LEASE_SECONDS: a revision must not change with settings.
DEFAULT_LEASE = timedelta(seconds=120)


def upgrade() -> None:
    with op.batch_alter_table("jobs") as jobs:
        jobs.add_column(sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))
        jobs.add_column(sa.Column("start_epoch", sa.Integer(), nullable=True))
        jobs.add_column(
            sa.Column("lost_attempts", sa.Integer(), nullable=False, server_default="0")
        )
    op.drop_index(op.f("ix_jobs_status_heartbeat_at"), table_name="jobs")
    op.create_index(op.f("ix_jobs_status_lease_until"), "jobs", ["status", "lease_until"])
    _lease_running_jobs()


def _lease_running_jobs() -> None:
    # In Python, not SQL: adding an interval to a timestamp is spelled differently per backend.
    jobs = sa.table(
        "jobs",
        sa.column("job_id", sa.Integer),
        sa.column("heartbeat_at", sa.DateTime(timezone=True)),
        sa.column("lease_until", sa.DateTime(timezone=True)),
        sa.column("status", sa.String),
    )
    connection = op.get_bind()
    running = connection.execute(
        sa.select(jobs.c.job_id, jobs.c.heartbeat_at).where(
            jobs.c.status == "running", jobs.c.heartbeat_at.is_not(None)
        )
    ).all()
    for job_id, heartbeat_at in running:
        connection.execute(
            jobs.update()
            .where(jobs.c.job_id == job_id)
            .values(lease_until=heartbeat_at + DEFAULT_LEASE)
        )


def downgrade() -> None:
    op.drop_index(op.f("ix_jobs_status_lease_until"), table_name="jobs")
    op.create_index(op.f("ix_jobs_status_heartbeat_at"), "jobs", ["status", "heartbeat_at"])
    with op.batch_alter_table("jobs") as jobs:
        jobs.drop_column("lost_attempts")
        jobs.drop_column("start_epoch")
        jobs.drop_column("lease_until")
