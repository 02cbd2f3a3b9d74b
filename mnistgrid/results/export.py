"""A sweep's jobs or epochs as CSV, JSONL or parquet, written a page at a time.

    mnistgrid export seeds --epochs --format parquet --out seeds-epochs.parquet

The rows come from `Results.iter_jobs` / `iter_epochs`, one store page at a time, and each page
is written before the next is read: memory holds one page whatever the sweep's size.

- **csv**: a header, then a row per job or epoch. An empty cell: does not apply (or missing);
  a loss that is NaN or infinite is `nan`, `inf` or `-inf`; floats keep every digit, as in
  the report's results.csv, whose columns these are (and more).
- **jsonl**: a JSON object per line, strict JSON (what `jq` reads): null where a value does
  not apply, numbers as numbers, and NaN and infinite losses as the strings `"nan"`, `"inf"`
  and `"-inf"` (JSON has no such number).
- **parquet**: typed columns (columns.py), in row groups of a page: `int64`, `double` (NaN and
  infinity as themselves, null where it does not apply), `string`. Needs pyarrow, an optional
  extra: `pip install 'mnistgrid[parquet]'`.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from mnistgrid.errors import BadInput
from mnistgrid.results.columns import EPOCH_COLUMNS, JOB_COLUMNS, Columns
from mnistgrid.results.extras import require
from mnistgrid.results.formats import FORMATS
from mnistgrid.results.reader import Results
from mnistgrid.results.records import EpochRecord, JobRecord

TABLES = ("jobs", "epochs")


def job_values(job: JobRecord) -> tuple[Any, ...]:
    return tuple(getattr(job, name) for name, _ in JOB_COLUMNS)


def epoch_values(epoch: EpochRecord) -> tuple[Any, ...]:
    return (
        epoch.sweep_id,
        epoch.job_id,
        epoch.epoch,
        epoch.train_loss,
        epoch.valid_loss,
        epoch.valid_acc,
        *epoch.digit_acc,
        epoch.seconds,
    )


def check_format(fmt: str) -> None:
    """An unknown format, or parquet without pyarrow: `BadInput`, before anything is read."""
    if fmt not in FORMATS:
        raise BadInput(f"unknown format '{fmt}': use {', '.join(FORMATS)}")
    if fmt == "parquet":
        require("pyarrow.parquet")


def rows(results: Results, ref: str | int, table: str) -> Iterator[list[tuple[Any, ...]]]:
    """The table's rows, a page (list of value tuples, in its columns' order) at a time."""
    if table == "jobs":
        for jobs in results.iter_jobs(ref):
            yield [job_values(job) for job in jobs]
    else:
        for epochs in results.iter_epochs(ref):
            yield [epoch_values(epoch) for epoch in epochs]


def export(
    results: Results, ref: str | int, table: str, fmt: str, out: Path | None, stdout: IO[bytes]
) -> int:
    """Write the sweep's `table` (jobs or epochs) as `fmt` to the file `out`, or to `stdout`
    when None; returns the rows written. A file appears whole or not at all: it is written
    beside its place and renamed there at the end."""
    check_format(fmt)
    columns = JOB_COLUMNS if table == "jobs" else EPOCH_COLUMNS
    sweep_id = results.sweep(ref).sweep_id  # an unknown sweep: NotFound, nothing written
    pages = rows(results, sweep_id, table)
    writer = WRITERS[fmt]
    if out is None:
        return writer(pages, columns, stdout)
    with replacing(out) as file:
        return writer(pages, columns, file)


@contextmanager
def replacing(path: Path) -> Iterator[IO[bytes]]:
    """A file that takes `path`'s place only once written whole."""
    part = path.with_name(f".{path.name}.{secrets.token_hex(4)}.part")
    try:
        with part.open("wb") as file:
            yield file
        os.replace(part, path)
    finally:
        part.unlink(missing_ok=True)


Writer = Callable[[Iterator[list[tuple[Any, ...]]], Columns, IO[bytes]], int]


def write_csv(pages: Iterator[list[tuple[Any, ...]]], columns: Columns, out: IO[bytes]) -> int:
    text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
    try:
        writer = csv.writer(text)
        writer.writerow([name for name, _ in columns])
        n = 0
        for page in pages:
            # The csv module writes None as an empty cell and a float as its repr.
            writer.writerows(page)
            n += len(page)
        text.flush()
        return n
    finally:
        text.detach()  # the caller closes `out`


def json_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


def write_jsonl(pages: Iterator[list[tuple[Any, ...]]], columns: Columns, out: IO[bytes]) -> int:
    names = [name for name, _ in columns]
    floats = [i for i, (_, kind) in enumerate(columns) if kind == "float"]
    n = 0
    for page in pages:
        lines = []
        for values in page:
            row = dict(zip(names, values, strict=True))
            for i in floats:
                row[names[i]] = json_value(values[i])
            lines.append(json.dumps(row, allow_nan=False, separators=(",", ":")))
        if lines:
            out.write(("\n".join(lines) + "\n").encode())
        n += len(page)
    return n


def arrow_schema(columns: Columns) -> Any:
    pa = require("pyarrow")
    types = {
        "int": pa.int64(),
        "int?": pa.int64(),
        "float": pa.float64(),
        "str": pa.string(),
        "time": pa.timestamp("us", tz="UTC"),
    }
    return pa.schema(
        [pa.field(name, types[kind], nullable=kind != "int") for name, kind in columns]
    )


def write_parquet(pages: Iterator[list[tuple[Any, ...]]], columns: Columns, out: IO[bytes]) -> int:
    pa, pq = require("pyarrow"), require("pyarrow.parquet")
    schema = arrow_schema(columns)
    n = 0
    with pq.ParquetWriter(pa.PythonFile(out, mode="w"), schema) as writer:
        for page in pages:
            if not page:
                continue
            arrays = [
                pa.array([values[i] for values in page], type=field.type, from_pandas=False)
                for i, field in enumerate(schema)
            ]
            writer.write_batch(pa.RecordBatch.from_arrays(arrays, schema=schema))
            n += len(page)
    return n


WRITERS: dict[str, Writer] = {"csv": write_csv, "jsonl": write_jsonl, "parquet": write_parquet}
