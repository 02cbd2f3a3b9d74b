"""A small, read-only Python API over the store: sweeps, their jobs and their epochs, as
frozen records and as pandas DataFrames; `mnistgrid export` and `mnistgrid compare` on top.

    >>> from mnistgrid.results import Results
    >>> results = Results(url)             # the CLI's URL: "sqlite:///mnistgrid.db", ...
    >>> [sweep.name for sweep in results.sweeps()]
    ['seeds', 'seeds-asha']
    >>> best = max(results.jobs("seeds"), key=lambda job: job.best_acc or 0)
    >>> best.family, best.status, best.epochs_trained
    ('mlp', 'succeeded', 40)
    >>> frame = results.jobs_frame("seeds")      # pandas, an optional extra
    >>> frame.groupby("family")["best_acc"].max().index.tolist()
    ['baseline mae', 'baseline mse', 'linear', 'mlp']

reader.py opens the store and turns its records into this package's (records.py); frames.py
makes DataFrames of them (pandas, an optional extra, imported when asked for); export.py writes
them as CSV, JSONL or parquet (pyarrow, an optional extra; formats.py names them) a page at a
time; compare.py sets sweeps side by side per model family. docs/results.md shows a session on
the seeds sweep.

It reads through the store's own methods (db/store.py), never SQL of its own, and writes
nothing. May import: everything below the web view but the worker runtime and the
orchestrator (the store, the report's gather and summaries, so that every number is the
report's).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mnistgrid.results.reader import Results
    from mnistgrid.results.records import EpochRecord, JobRecord, SweepRecord

__all__ = ["EpochRecord", "JobRecord", "Results", "SweepRecord"]

# Loaded when first asked for (PEP 562): the CLI's `--help` reads formats.py from this package
# and has no use for SQLAlchemy, which the reader brings.
_HOMES = {
    "Results": "reader",
    "EpochRecord": "records",
    "JobRecord": "records",
    "SweepRecord": "records",
}


def __getattr__(name: str) -> object:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
