"""`Results`: the sweeps of a store, their jobs and their epochs, read through the store.

    >>> from mnistgrid.results import Results
    >>> results = Results(url)        # the URL the CLI takes (--database-url)
    >>> seeds = results.sweep("seeds")
    >>> seeds.status, seeds.jobs
    ('finished', 26)
    >>> results.close()

Jobs and epochs are read a page at a time (`Store.scan_jobs`, `Store.scan_epochs`): `iter_jobs`
and `iter_epochs` hold one page, so a 10,000-job x 100-epoch sweep streams in bounded memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import TYPE_CHECKING

from db.engine import missing_sqlite_file
from db.records import JobInfo
from db.store import Store
from mnistgrid.errors import NotFound
from mnistgrid.report.gather import JobResult, job_result
from mnistgrid.results.records import (
    EpochRecord,
    JobRecord,
    SweepRecord,
    digit_order,
    epoch_record,
    job_record,
    sweep_record,
)
from mnistgrid.spec import DataSpec

if TYPE_CHECKING:
    import pandas

# A job whose row lacks a number it stores when it ends takes it from its epochs, as the report.
_STORED_AT_THE_END = ("final_acc", "best_acc", "best_epoch", "train_seconds")


class Results:
    """Read-only access to the sweeps of one store: SQLite or PostgreSQL, by the URL the CLI
    takes (`sqlite:///mnistgrid.db`, `postgresql+psycopg://user@host/db`), or a `Store`.

    A sweep is named by its name or its id, as on the command line.

    >>> results = Results(url)
    >>> [sweep.name for sweep in results.sweeps()]
    ['seeds', 'seeds-asha']
    >>> results.sweep("seeds-asha").stop_rule
    'asha'
    """

    def __init__(self, url_or_store: str | Store) -> None:
        if isinstance(url_or_store, Store):
            self.store, self._owned = url_or_store, False
        else:
            require_existing(url_or_store)
            self.store, self._owned = Store(url_or_store), True

    def close(self) -> None:
        if self._owned:
            self.store.close()

    def __enter__(self) -> Results:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- records ----------------------------------------------------------------------------

    def sweeps(self) -> list[SweepRecord]:
        """Every sweep, oldest first."""
        return [sweep_record(sweep) for sweep in self.store.list_sweeps()]

    def sweep(self, ref: str | int) -> SweepRecord:
        """One sweep by name or id; `NotFound` (a `MnistgridError`) when there is none."""
        return sweep_record(self.store.get_sweep(ref))

    def jobs(self, ref: str | int) -> list[JobRecord]:
        """The sweep's jobs in id order.

        >>> jobs = Results(url).jobs("seeds")
        >>> len(jobs), sorted({job.family for job in jobs})
        (26, ['baseline mae', 'baseline mse', 'linear', 'mlp'])
        >>> job = next(job for job in jobs if job.model == "linear")
        >>> job.config, job.status, job.epochs_trained
        ('linear mnist_loss lr=0.1 batch=256', 'succeeded', 40)
        """
        return [job for page in self.iter_jobs(ref) for job in page]

    def iter_jobs(self, ref: str | int) -> Iterator[list[JobRecord]]:
        """The sweep's jobs as pages (lists) in id order, one page in memory at a time."""
        sweep_id = self.store.get_sweep(ref).sweep_id
        for infos in self.store.scan_jobs(sweep_id):
            yield [record for _, record in self._outcomes(infos)]

    def job_results(self, ref: str | int) -> list[tuple[JobResult, JobRecord]]:
        """Each job of the sweep as the report sees it (`JobResult`, with no epochs) beside
        its record: for code that applies the report's summaries (`compare`)."""
        sweep_id = self.store.get_sweep(ref).sweep_id
        return [pair for infos in self.store.scan_jobs(sweep_id) for pair in self._outcomes(infos)]

    def epochs(self, ref: str | int) -> list[EpochRecord]:
        """Every stored epoch of the sweep, in (job, epoch) order.

        >>> epochs = Results(url).epochs("seeds")
        >>> first = epochs[0]
        >>> first.epoch, len(first.digit_acc)
        (1, 10)
        """
        return [epoch for page in self.iter_epochs(ref) for epoch in page]

    def iter_epochs(self, ref: str | int) -> Iterator[list[EpochRecord]]:
        """The sweep's epochs as pages (lists) in (job, epoch) order, one page at a time."""
        sweep_id = self.store.get_sweep(ref).sweep_id
        orders: dict[int, tuple[int | None, ...]] = {}
        for page in self.store.scan_epochs(sweep_id):
            missing = {job_id for job_id in page.job_ids if job_id not in orders}
            if missing:
                orders.update(self._digit_orders(sweep_id, min(missing), max(missing)))
            yield [
                epoch_record(sweep_id, job_id, row, orders[job_id])
                for job_id, row in zip(page.job_ids, page.rows, strict=True)
            ]

    # -- DataFrames (pandas: `pip install 'mnistgrid[pandas]'`) -------------------------------

    def sweeps_frame(self) -> pandas.DataFrame:
        """`sweeps()` as a DataFrame, a row per sweep (see mnistgrid/results/frames.py)."""
        from mnistgrid.results.frames import sweeps_frame

        return sweeps_frame(self.sweeps())

    def jobs_frame(self, ref: str | int) -> pandas.DataFrame:
        """`jobs(ref)` as a DataFrame with typed columns, a row per job.

        >>> frame = Results(url).jobs_frame("seeds")
        >>> frame.shape
        (26, 25)
        >>> frame.dtypes[["job_id", "lr", "hidden", "model", "best_acc"]].astype(str).tolist()
        ['int64', 'float64', 'Int64', 'string', 'float64']
        >>> frame.groupby("family")["best_acc"].max().index.tolist()
        ['baseline mae', 'baseline mse', 'linear', 'mlp']
        """
        from mnistgrid.results.frames import jobs_frame

        return jobs_frame(self.jobs(ref))

    def epochs_frame(self, ref: str | int) -> pandas.DataFrame:
        """`epochs(ref)` as a DataFrame, a row per job and epoch; `acc_0` ... `acc_9` are the
        accuracies on each digit. Join it to `jobs_frame` on `job_id`.

        >>> results = Results(url)
        >>> epochs = results.epochs_frame("seeds")
        >>> epochs.columns[:6].tolist()
        ['sweep_id', 'job_id', 'epoch', 'train_loss', 'valid_loss', 'valid_acc']
        >>> curves = epochs.merge(results.jobs_frame("seeds")[["job_id", "family"]], on="job_id")
        >>> curves.groupby(["family", "epoch"])["valid_acc"].max().loc["linear"].size
        40
        """
        from mnistgrid.results.frames import epochs_frame

        return epochs_frame(self.epochs(ref))

    # -- plumbing ---------------------------------------------------------------------------

    def _outcomes(self, infos: list[JobInfo]) -> list[tuple[JobResult, JobRecord]]:
        running = [
            info.job_id
            for info in infos
            if any(getattr(info, name) is None for name in _STORED_AT_THE_END) and info.last_epoch
        ]
        epochs = self.store.epochs_of(running) if running else {}
        outcomes = []
        for info in infos:
            # Its epochs only give what its row lacks; the result keeps none (light).
            result = replace(job_result(info, epochs.get(info.job_id, [])), epochs=())
            outcomes.append((result, job_record(info, result)))
        return outcomes

    def _digit_orders(
        self, sweep_id: int, low: int, high: int
    ) -> dict[int, tuple[int | None, ...]]:
        """Each job from `low` on (to past `high`) to where each digit is in its classes."""
        orders: dict[int, tuple[int | None, ...]] = {}
        for info in self.store.jobs_page(sweep_id, low - 1, max(high - low + 1, 1)):
            data = DataSpec.model_validate(info.params.get("data", {}))
            orders[info.job_id] = digit_order(data.classes)
        return orders


def require_existing(url: str) -> None:
    """A SQLite file that is not there is a mistyped path: a reader never creates one."""
    file = missing_sqlite_file(url)
    if file is not None:
        raise NotFound(f"no database at {file}")
