"""Rows in, records out: the conversions between frozen records and table rows.

The store (db/store.py) is the interface; these are its plumbing, kept apart so that it reads
as the list of what can be asked of the database. Losses go through `encode_float` and
`decode_float` (db/models.py); every other float column holds finite numbers only.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Text, cast

from db.models import FINITE, EpochModel, SweepModel, decode_float, encode_float
from db.records import EpochRow, NewJob, SweepInfo
from mnistgrid.errors import BadInput


def sweep_info(sweep: SweepModel, counts: Mapping[str, int]) -> SweepInfo:
    return SweepInfo(
        sweep_id=sweep.sweep_id,
        name=sweep.name,
        grid=sweep.grid,
        grid_hash=sweep.grid_hash,
        status=sweep.status,
        created_at=sweep.created_at,
        finished_at=sweep.finished_at,
        report_status=sweep.report_status,
        report_at=sweep.report_at,
        report_error=sweep.report_error,
        counts=dict(counts),
    )


def job_rows(jobs: Sequence[NewJob]) -> list[dict[str, Any]]:
    seen: set[str] = set()
    rows = []
    for job in jobs:
        if job.key in seen:
            raise BadInput(f"two jobs of the grid have the same configuration (key {job.key})")
        seen.add(job.key)
        rows.append(
            {
                "key": job.key,
                "model": job.model,
                "loss": job.loss,
                "lr": finite(job.lr, "lr"),
                "params": json_value(job.spec, "spec"),
                "group_key": job.group_key,
                "bracket": job.bracket,
                "status": "queued",
                "attempts": 0,
            }
        )
    return rows


EPOCH_COLUMNS = (
    EpochModel.epoch,
    EpochModel.train_loss,
    EpochModel.train_loss_kind,
    EpochModel.valid_loss,
    EpochModel.valid_loss_kind,
    EpochModel.valid_acc,
    # As JSON text: one json.loads over all rows beats one per row (40,000 in a report).
    cast(EpochModel.per_class_acc, Text),
    EpochModel.seconds,
)


def epoch_rows(rows: Sequence[Sequence[Any]]) -> list[EpochRow]:
    """EpochRows from rows that start with EPOCH_COLUMNS."""
    per_class = json.loads("[" + ",".join(row[6] for row in rows) + "]")
    return [
        epoch_row(*row[:6], accuracies, row[7])
        for row, accuracies in zip(rows, per_class, strict=True)
    ]


def epoch_values(row: EpochRow) -> dict[str, Any]:
    if row.epoch < 1:
        raise ValueError(f"epochs count from 1, got {row.epoch}")
    train_loss, train_loss_kind = encode_float(row.train_loss)
    valid_loss, valid_loss_kind = encode_float(row.valid_loss)
    return {
        "epoch": row.epoch,
        "train_loss": train_loss,
        "train_loss_kind": train_loss_kind,
        "valid_loss": valid_loss,
        "valid_loss_kind": valid_loss_kind,
        "valid_acc": finite(row.valid_acc, "valid_acc"),
        # JSON has no NaN: a class with no examples (NaN accuracy) is stored as null.
        "per_class_acc": [float(a) if math.isfinite(a) else None for a in row.per_class_acc],
        "seconds": finite(row.seconds, "seconds"),
    }


def epoch_row(
    epoch: int,
    train_loss: float | None,
    train_loss_kind: str | None,
    valid_loss: float | None,
    valid_loss_kind: str | None,
    valid_acc: float | None,
    per_class_acc: list[float | None],
    seconds: float,
) -> EpochRow:
    # The report reads 40,000 of these at once: skip the work a finite loss does not need.
    if train_loss_kind != FINITE:
        train_loss = decode_float(train_loss, train_loss_kind)
    if valid_loss_kind != FINITE:
        valid_loss = decode_float(valid_loss, valid_loss_kind)
    if None in per_class_acc:
        per_class_acc = [math.nan if a is None else a for a in per_class_acc]
    return EpochRow(
        epoch,
        train_loss,
        valid_loss,
        valid_acc,
        tuple(per_class_acc),
        seconds,  # type: ignore[arg-type]
    )


def json_value(value: Mapping[str, Any], name: str) -> dict[str, Any]:
    """A JSON column's value, checked here: NaN is not JSON (PostgreSQL would refuse it)."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} is not JSON without NaN or infinity: {error}") from None
    return dict(value)


def finite(value: float | None, name: str) -> float | None:
    """Columns other than the losses hold finite numbers only: SQLite would turn NaN into NULL."""
    if value is None:
        return None
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value}")
    return value
