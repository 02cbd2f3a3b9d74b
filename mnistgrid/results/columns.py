"""The columns of each table the results API makes, and their types, in one place: the
DataFrames (frames.py) and every export format (export.py) follow them.

A type is one of:

- `int`: a whole number, never empty (pandas `int64`, parquet `int64`);
- `int?`: a whole number or empty, where it does not apply (pandas `Int64`, parquet `int64`
  with nulls);
- `float`: a number, empty where it does not apply (pandas `float64` with NaN, parquet
  `double` with nulls). A loss keeps NaN and +-infinity (a diverged job);
- `str`: text or empty (pandas `string`, parquet `string`);
- `time`: a UTC time or empty (pandas `datetime64[us, UTC]`, parquet `timestamp[us, UTC]`).
"""

from __future__ import annotations

from db.records import JOB_STATUSES
from mnistgrid.results.records import DIGITS

Columns = tuple[tuple[str, str], ...]

JOB_COLUMNS: Columns = (
    ("sweep_id", "int"),
    ("job_id", "int"),
    ("family", "str"),
    ("model", "str"),
    ("loss", "str"),
    ("lr", "float"),
    ("hidden", "int?"),
    ("activation", "str"),
    ("distance", "str"),
    ("init_std", "float"),
    ("seed", "int?"),
    ("batch_size", "int?"),
    ("epochs", "int"),
    ("digits", "str"),
    ("status", "str"),
    ("final_acc", "float"),
    ("best_acc", "float"),
    ("best_epoch", "int?"),
    ("epochs_trained", "int"),
    ("seconds", "float"),
    ("worker", "str"),
    ("device", "str"),
    ("attempts", "int"),
    ("bracket", "int?"),
    ("error", "str"),
)

# `acc_D`: the accuracy on digit D (empty for a digit a pair leaves out).
DIGIT_COLUMNS = tuple(f"acc_{digit}" for digit in DIGITS)

EPOCH_COLUMNS: Columns = (
    ("sweep_id", "int"),
    ("job_id", "int"),
    ("epoch", "int"),
    ("train_loss", "float"),
    ("valid_loss", "float"),
    ("valid_acc", "float"),
    *((name, "float") for name in DIGIT_COLUMNS),
    ("seconds", "float"),
)

SWEEP_COLUMNS: Columns = (
    ("sweep_id", "int"),
    ("name", "str"),
    ("status", "str"),
    ("stop_rule", "str"),
    ("jobs", "int"),
    ("created_at", "time"),
    ("finished_at", "time"),
    ("report_status", "str"),
    # its jobs per status
    *((status, "int") for status in JOB_STATUSES),
)
