"""The tables, one ORM class each. Users query them directly: see docs/database.md.

Losses that may be NaN or infinite are stored as a value column plus a kind column (optuna's
approach): SQLite turns NaN into NULL and JSON cannot hold NaN at all, so a non-finite loss keeps
NULL in its value column and says which one it was in the kind column. `encode_float` and
`decode_float` are the only code that reads or writes that pair.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from db.records import JOB_STATUSES

SWEEP_STATUSES = ("queued", "running", "finished", "cancelled")
# What became of the report a finished sweep asked for; NULL before it asked.
REPORT_STATUSES = ("requested", "written", "failed")
UNFINISHED_JOB_STATUSES = ("queued", "running", "parked")

# The kind column next to a loss: NULL when there is no loss at all (the baseline).
FINITE, NAN, POS_INF, NEG_INF = "finite", "nan", "inf", "-inf"
FLOAT_KINDS = (FINITE, NAN, POS_INF, NEG_INF)

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class JSONType(TypeDecorator[Any]):
    """JSONB on PostgreSQL so users can index and query `params->>'seed'`; JSON text on SQLite.

    Not `JSON().with_variant(JSONB(), ...)`: that imports the PostgreSQL dialect with the
    models, and with it every driver's module, a twentieth of every command's start on SQLite.
    """

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import JSONB

            return dialect.type_descriptor(JSONB())
        return dialect.type_descriptor(JSON())


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime on both backends (SQLite keeps no zone and hands back naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if isinstance(value, datetime):
            if value.tzinfo is None:
                raise ValueError(f"naive datetime {value!r}: pass an aware UTC datetime")
            return value.astimezone(UTC)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if isinstance(value, datetime):
            return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        return value


def encode_float(value: float | None) -> tuple[float | None, str | None]:
    """A float as (value column, kind column): NaN and +-inf keep NULL and name their kind."""
    if value is None:
        return None, None
    value = float(value)
    if math.isfinite(value):
        return value, FINITE
    if math.isnan(value):
        return None, NAN
    return None, POS_INF if value > 0 else NEG_INF


_KIND_VALUES = {NAN: math.nan, POS_INF: math.inf, NEG_INF: -math.inf}


def decode_float(value: float | None, kind: str | None) -> float | None:
    if kind is None:
        return None
    if kind == FINITE:
        return value
    return _KIND_VALUES[kind]


def _kind_check(column: str) -> CheckConstraint:
    """The value column holds a number exactly when the kind says `finite`."""
    kinds = ", ".join(f"'{kind}'" for kind in FLOAT_KINDS)
    return CheckConstraint(
        f"({column}_kind IS NULL OR {column}_kind IN ({kinds})) AND "
        f"(({column} IS NOT NULL) = ({column}_kind IS NOT NULL AND {column}_kind = '{FINITE}'))",
        name=f"{column}_kind",
    )


def _in_check(column: str, values: tuple[str, ...]) -> CheckConstraint:
    listed = ", ".join(f"'{value}'" for value in values)
    return CheckConstraint(f"{column} IN ({listed})", name=column)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class SweepModel(Base):
    __tablename__ = "sweeps"
    __table_args__ = (
        _in_check("status", SWEEP_STATUSES),
        CheckConstraint(
            "report_status IS NULL OR report_status IN ("
            + ", ".join(f"'{s}'" for s in REPORT_STATUSES)
            + ")",
            name="report_status",
        ),
    )

    sweep_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    grid: Mapped[dict[str, Any]] = mapped_column(JSONType())
    grid_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    report_status: Mapped[str | None] = mapped_column(String(16))
    # When the report was asked for, taken up by a worker, or ended.
    report_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    report_error: Mapped[str | None] = mapped_column(Text)


class JobModel(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        # Also the index behind "jobs of a sweep" (its leading column is sweep_id).
        UniqueConstraint("sweep_id", "key"),
        # Counts per status (`list_sweeps`) and the reconcile's "unfinished jobs of a sweep".
        Index(None, "sweep_id", "status"),
        # The reconcile's scan of every sweep for expired leases.
        Index(None, "status", "lease_until"),
        _in_check("status", JOB_STATUSES),
    )

    job_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sweep_id: Mapped[int] = mapped_column(ForeignKey("sweeps.sweep_id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(16))
    loss: Mapped[str | None] = mapped_column(String(32))
    lr: Mapped[float | None] = mapped_column(Double)
    params: Mapped[dict[str, Any]] = mapped_column(JSONType())
    group_key: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    # Every start by a worker, resumes included (its history; nothing is bounded by it).
    attempts: Mapped[int] = mapped_column(Integer)
    # Starts lost without storing an epoch: what MNISTGRID_MAX_ATTEMPTS bounds (db/leases.py).
    lost_attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    worker: Mapped[str | None] = mapped_column(String(255))
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The lease: the holder owns the running job until then (its own lease length, stored).
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The epoch the current start resumed after (0: from scratch).
    start_epoch: Mapped[int | None] = mapped_column(Integer)
    # The last rung of a synchronous rule (sha, hyperband) the job was promoted past.
    cleared_rung: Mapped[int] = mapped_column(Integer, server_default="0")
    # Its Hyperband bracket; NULL for every other rule.
    bracket: Mapped[int | None] = mapped_column(Integer)
    # When its latest task message was sent: a queued job's message is lost once this is old
    # and its queue is empty.
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    device: Mapped[str | None] = mapped_column(String(64))
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(Text)
    final_acc: Mapped[float | None] = mapped_column(Double)
    best_acc: Mapped[float | None] = mapped_column(Double)
    best_epoch: Mapped[int | None] = mapped_column(Integer)
    train_seconds: Mapped[float | None] = mapped_column(Double)
    run_info: Mapped[dict[str, Any] | None] = mapped_column(JSONType())


class EpochModel(Base):
    __tablename__ = "epochs"
    __table_args__ = (
        # Makes a re-written epoch an update, and is the index behind "epochs of a job".
        UniqueConstraint("job_id", "epoch"),
        CheckConstraint("epoch >= 1", name="epoch_from_1"),
        _kind_check("train_loss"),
        _kind_check("valid_loss"),
    )

    epoch_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.job_id", ondelete="CASCADE"))
    epoch: Mapped[int] = mapped_column(Integer)
    train_loss: Mapped[float | None] = mapped_column(Double)
    train_loss_kind: Mapped[str | None] = mapped_column(String(8))
    valid_loss: Mapped[float | None] = mapped_column(Double)
    valid_loss_kind: Mapped[str | None] = mapped_column(String(8))
    valid_acc: Mapped[float | None] = mapped_column(Double)
    # One accuracy per class, in the job's class order; a class with no examples is null.
    per_class_acc: Mapped[list[float | None]] = mapped_column(JSONType())
    seconds: Mapped[float] = mapped_column(Double)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CheckpointModel(Base):
    __tablename__ = "checkpoints"

    checkpoint_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.job_id", ondelete="CASCADE"), unique=True)
    epoch: Mapped[int] = mapped_column(Integer)
    # `torch.save` bytes written by the worker; the store never looks inside.
    state: Mapped[bytes] = mapped_column(LargeBinary)
    saved_at: Mapped[datetime] = mapped_column(UTCDateTime)


class WorkerModel(Base):
    """The worker roster: who consumes which queues with how many slots, while alive. Each
    worker writes its own row from its healer (every half lease) and deletes it at a warm
    shutdown; a killed worker's row outlives it until `alive_until`. Read only to spread a
    rung's survivors over idle slots (db/rungs.py), where a stale row costs a smaller stack."""

    __tablename__ = "workers"

    worker_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # Celery's node name (`cpu-123@host`): one row per worker process, whatever its pool.
    name: Mapped[str] = mapped_column(String(255), unique=True)
    # The queues it consumes, comma-separated (`cpu,report`).
    queues: Mapped[str] = mapped_column(String(255))
    # How many stacks it trains at once (its pool's processes).
    slots: Mapped[int] = mapped_column(Integer)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Two of its own MNISTGRID_LEASE_SECONDS after `seen_at`: past it, it counts as gone.
    alive_until: Mapped[datetime] = mapped_column(UTCDateTime)
