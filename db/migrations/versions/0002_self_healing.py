"""self-healing: when each job's message was sent, and the state of each sweep's report

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 16:00:00

- jobs.sent_at: when the job's latest task message was sent. A `queued` job whose message is
  older than a lease while its queue is empty has lost it, and is sent again.
- ix_jobs_status_heartbeat_at: the reconcile's scan for expired leases across every sweep.
- sweeps.report_status / report_at / report_error: the report a finished sweep asked a worker
  for (`requested`), and how that ended (`written`, or `failed` with its error), so the user
  waiting on the sweep is told.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A frozen copy of the model's constant: a revision must not change when the models do.
REPORT_STATUSES = "'requested', 'written', 'failed'"


def upgrade() -> None:
    with op.batch_alter_table("jobs") as jobs:
        jobs.add_column(sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(op.f("ix_jobs_status_heartbeat_at"), "jobs", ["status", "heartbeat_at"])
    with op.batch_alter_table("sweeps") as sweeps:
        sweeps.add_column(sa.Column("report_status", sa.String(16), nullable=True))
        sweeps.add_column(sa.Column("report_at", sa.DateTime(timezone=True), nullable=True))
        sweeps.add_column(sa.Column("report_error", sa.Text(), nullable=True))
        sweeps.create_check_constraint(
            "report_status", f"report_status IS NULL OR report_status IN ({REPORT_STATUSES})"
        )


def downgrade() -> None:
    with op.batch_alter_table("sweeps") as sweeps:
        sweeps.drop_constraint(op.f("ck_sweeps_report_status"), type_="check")
        sweeps.drop_column("report_error")
        sweeps.drop_column("report_at")
        sweeps.drop_column("report_status")
    op.drop_index(op.f("ix_jobs_status_heartbeat_at"), table_name="jobs")
    with op.batch_alter_table("jobs") as jobs:
        jobs.drop_column("sent_at")
