"""initial schema: sweeps, jobs, epochs, checkpoints

Revision ID: 0001
Revises:
Create Date: 2026-11-26 14:00:00

Written by hand against db/models.py; tests/integration/test_store.py checks that the migrated
database and the models agree (alembic's compare_metadata finds nothing) on both backends.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the model's constants: a revision must not change when the models do.
SWEEP_STATUSES = "'queued', 'running', 'finished', 'cancelled'"
JOB_STATUSES = "'queued', 'running', 'succeeded', 'diverged', 'failed', 'cancelled'"


def json_type() -> sa.types.TypeEngine:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def utc() -> sa.types.TypeEngine:
    return sa.DateTime(timezone=True)


def kind_check(column: str) -> sa.CheckConstraint:
    return sa.CheckConstraint(
        f"({column}_kind IS NULL OR {column}_kind IN ('finite', 'nan', 'inf', '-inf')) AND "
        f"(({column} IS NOT NULL) = ({column}_kind IS NOT NULL AND {column}_kind = 'finite'))",
        name=op.f(f"ck_epochs_{column}_kind"),
    )


def upgrade() -> None:
    op.create_table(
        "sweeps",
        sa.Column("sweep_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("grid", json_type(), nullable=False),
        sa.Column("grid_hash", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", utc(), nullable=False),
        sa.Column("finished_at", utc(), nullable=True),
        sa.CheckConstraint(f"status IN ({SWEEP_STATUSES})", name=op.f("ck_sweeps_status")),
        sa.PrimaryKeyConstraint("sweep_id", name=op.f("pk_sweeps")),
        sa.UniqueConstraint("name", name=op.f("uq_sweeps_name")),
    )
    op.create_table(
        "jobs",
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("sweep_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("model", sa.String(16), nullable=False),
        sa.Column("loss", sa.String(32), nullable=True),
        sa.Column("lr", sa.Double(), nullable=True),
        sa.Column("params", json_type(), nullable=False),
        sa.Column("group_key", sa.String(64), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("worker", sa.String(255), nullable=True),
        sa.Column("heartbeat_at", utc(), nullable=True),
        sa.Column("device", sa.String(64), nullable=True),
        sa.Column("started_at", utc(), nullable=True),
        sa.Column("finished_at", utc(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("final_acc", sa.Double(), nullable=True),
        sa.Column("best_acc", sa.Double(), nullable=True),
        sa.Column("best_epoch", sa.Integer(), nullable=True),
        sa.Column("train_seconds", sa.Double(), nullable=True),
        sa.Column("run_info", json_type(), nullable=True),
        sa.CheckConstraint(f"status IN ({JOB_STATUSES})", name=op.f("ck_jobs_status")),
        sa.ForeignKeyConstraint(
            ["sweep_id"],
            ["sweeps.sweep_id"],
            name=op.f("fk_jobs_sweep_id_sweeps"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("job_id", name=op.f("pk_jobs")),
        sa.UniqueConstraint("sweep_id", "key", name=op.f("uq_jobs_sweep_id_key")),
    )
    op.create_index(op.f("ix_jobs_sweep_id_status"), "jobs", ["sweep_id", "status"])
    op.create_table(
        "epochs",
        sa.Column("epoch_id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("train_loss", sa.Double(), nullable=True),
        sa.Column("train_loss_kind", sa.String(8), nullable=True),
        sa.Column("valid_loss", sa.Double(), nullable=True),
        sa.Column("valid_loss_kind", sa.String(8), nullable=True),
        sa.Column("valid_acc", sa.Double(), nullable=True),
        sa.Column("per_class_acc", json_type(), nullable=False),
        sa.Column("seconds", sa.Double(), nullable=False),
        sa.Column("recorded_at", utc(), nullable=False),
        sa.CheckConstraint("epoch >= 1", name=op.f("ck_epochs_epoch_from_1")),
        kind_check("train_loss"),
        kind_check("valid_loss"),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.job_id"], name=op.f("fk_epochs_job_id_jobs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("epoch_id", name=op.f("pk_epochs")),
        sa.UniqueConstraint("job_id", "epoch", name=op.f("uq_epochs_job_id_epoch")),
    )
    op.create_table(
        "checkpoints",
        sa.Column("checkpoint_id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("state", sa.LargeBinary(), nullable=False),
        sa.Column("saved_at", utc(), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["jobs.job_id"],
            name=op.f("fk_checkpoints_job_id_jobs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("checkpoint_id", name=op.f("pk_checkpoints")),
        sa.UniqueConstraint("job_id", name=op.f("uq_checkpoints_job_id")),
    )


def downgrade() -> None:
    op.drop_table("checkpoints")
    op.drop_table("epochs")
    op.drop_index(op.f("ix_jobs_sweep_id_status"), table_name="jobs")
    op.drop_table("jobs")
    op.drop_table("sweeps")
