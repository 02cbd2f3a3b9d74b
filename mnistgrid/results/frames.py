"""Records as pandas DataFrames, a column per field with the types of columns.py.

pandas is an optional extra (`pip install 'mnistgrid[pandas]'`): it is imported here only, when
a frame is asked for.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from mnistgrid.results.columns import (
    DIGIT_COLUMNS,
    EPOCH_COLUMNS,
    JOB_COLUMNS,
    SWEEP_COLUMNS,
    Columns,
)
from mnistgrid.results.extras import require
from mnistgrid.results.records import EpochRecord, JobRecord, SweepRecord

if TYPE_CHECKING:
    import pandas

DTYPES = {
    "int": "int64",
    "int?": "Int64",
    "float": "float64",
    "str": "string",
    "time": "datetime64[us, UTC]",
}


def frame(columns: Columns, values: dict[str, list[Any]]) -> pandas.DataFrame:
    """A DataFrame of these columns, each of its type; None is missing (NaN for floats)."""
    pd = require("pandas")
    data = {}
    for name, kind in columns:
        column = values[name]
        if kind == "float":
            column = [float("nan") if v is None else v for v in column]
        data[name] = pd.Series(column, dtype=DTYPES[kind] if kind != "time" else None)
        if kind == "time":
            data[name] = pd.to_datetime(data[name], utc=True).astype(DTYPES[kind])
    return pd.DataFrame(data, columns=[name for name, _ in columns])


def by_column(
    columns: Columns, records: Sequence[Any], get: Callable[[Any, str], Any] = getattr
) -> dict[str, list[Any]]:
    return {name: [get(record, name) for record in records] for name, _ in columns}


def jobs_frame(jobs: Sequence[JobRecord]) -> pandas.DataFrame:
    return frame(JOB_COLUMNS, by_column(JOB_COLUMNS, jobs))


def epochs_frame(epochs: Sequence[EpochRecord]) -> pandas.DataFrame:
    plain = tuple((name, kind) for name, kind in EPOCH_COLUMNS if name not in DIGIT_COLUMNS)
    values = by_column(plain, epochs)
    for digit, name in enumerate(DIGIT_COLUMNS):
        values[name] = [epoch.digit_acc[digit] for epoch in epochs]
    return frame(EPOCH_COLUMNS, values)


def sweep_value(sweep: SweepRecord, name: str) -> Any:
    if name in sweep.counts:
        return sweep.counts[name]
    return getattr(sweep, name)


def sweeps_frame(sweeps: Sequence[SweepRecord]) -> pandas.DataFrame:
    return frame(SWEEP_COLUMNS, by_column(SWEEP_COLUMNS, sweeps, sweep_value))
