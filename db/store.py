"""The one door to the database: every read and write of sweeps, jobs, epochs and checkpoints.

    store = Store("sqlite:///mnistgrid.db")
    claimed = store.claim_jobs([job_id], worker="host:1234:9f2c", lease_seconds=60.0,
                               max_attempts=3)

Each public method is one short transaction and hands back frozen records (db/records.py); no
session stays open between calls. A transient `OperationalError` (PostgreSQL restarting, a
dropped connection, a deadlock, SQLite still locked after its busy timeout) is retried with
backoff, about 30 s in all; every write is idempotent, so a retry after an unknown outcome is safe.

The rules live beside it, one concern a module: leases and what a loss costs (db/leases.py),
claims (db/claims.py), recording epochs and the stopping rule (db/epochs.py,
db/standings.py), how jobs and sweeps end (db/endings.py), healing (db/healing.py) and live
reads (db/live.py), and big sweeps read a page at a time (db/scans.py). Times come from
db/clock.py: the database server's clock on PostgreSQL, the local clock on SQLite.
"""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import Engine, exc, func, insert, select
from sqlalchemy.orm import Session

from db import claims, endings, epochs, healing, leases, live, roster, rungs, scans, standings
from db.clock import Clock
from db.engine import make_engine, safe_url, session_scope
from db.errors import DatabaseUnavailable, first_line
from db.models import EpochModel, JobModel, SweepModel
from db.queries import (
    all_status_counts,
    find_job,
    find_sweep,
    job_select,
    latest_checkpoints,
    next_free_name,
    status_counts,
    update_rows,
)
from db.records import (
    JOB_STATUSES,
    TERMINAL_JOB_STATUSES,
    Checkpoint,
    Claim,
    Claimed,
    EpochPage,
    EpochRow,
    EpochWrite,
    Finished,
    JobInfo,
    NewJob,
    Recorded,
    ShareCheck,
    StopCheck,
    SweepChanges,
    SweepCreated,
    SweepInfo,
    TakeOver,
    WorkerInfo,
)
from db.rows import EPOCH_COLUMNS, epoch_rows, job_rows, json_value, sweep_info
from db.schema_head import schema_is_current
from mnistgrid.errors import BadInput, NotFound
from mnistgrid.settings import Settings

DEFAULT_LEASE_SECONDS: float = Settings.model_fields["lease_seconds"].default
DEFAULT_MAX_ATTEMPTS: int = Settings.model_fields["max_attempts"].default
STAMP_LAG_SECONDS = live.STAMP_LAG_SECONDS
# Pauses between tries: 6 tries over about 30 s (each pause is jittered down to half).
RETRY_DELAYS: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0, 15.0)
# Tries of create_sweep when another process takes the same name between our read and insert.
_NAME_RACE_TRIES = 3

P = ParamSpec("P")
R = TypeVar("R")


def _retrying(method: Callable[P, R]) -> Callable[P, R]:
    """Re-run a whole transaction on a transient database error, a bounded number of times."""

    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        store: Store = args[0]  # type: ignore[assignment]
        delays = iter(store.retry_delays)
        while True:
            try:
                return method(*args, **kwargs)
            except exc.DBAPIError as error:
                if not (isinstance(error, exc.OperationalError) or error.connection_invalidated):
                    raise
                delay = next(delays, None)
                if delay is None:
                    raise DatabaseUnavailable(
                        f"database {safe_url(store.url)} kept failing "
                        f"({len(store.retry_delays) + 1} tries): {first_line(error)}"
                    ) from error
                store.sleep(delay * random.uniform(0.5, 1.0))

    return wrapper


class Store:
    """Sweeps, jobs, epochs and checkpoints in SQLite or PostgreSQL. See the module docstring."""

    def __init__(self, url: str, *, retry_delays: Sequence[float] = RETRY_DELAYS) -> None:
        self.url = url
        self.retry_delays = tuple(retry_delays)
        self.sleep: Callable[[float], None] = time.sleep
        self._engine = make_engine(url)
        try:
            if not schema_is_current(self._engine):
                from db.migrate import ensure_current  # Alembic only when needed: schema_head.py

                ensure_current(self._engine)
        except BaseException:
            self._engine.dispose()
            raise
        self._clock = Clock(postgres=self._engine.dialect.name == "postgresql")

    @property
    def engine(self) -> Engine:
        return self._engine

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- sweeps -----------------------------------------------------------------------------

    @_retrying
    def create_sweep(
        self,
        name: str,
        grid: Mapping[str, Any],
        grid_hash: str,
        jobs: Sequence[NewJob],
        *,
        new: bool = False,
    ) -> SweepCreated:
        """Create a sweep and its jobs in one transaction, or find the same one already there.

        Same name and hash: the existing sweep (`created=False`). Same name, other hash:
        `BadInput`, unless `new`, which takes the next free name `NAME-2`, `NAME-3`, ...
        """
        rows = job_rows(jobs)
        for attempt in range(_NAME_RACE_TRIES):
            try:
                with self._write() as session:
                    return self._create_sweep(
                        session, name, json_value(grid, "grid"), grid_hash, rows, new
                    )
            except exc.IntegrityError:
                # Another process inserted this name after we looked: look again.
                if attempt == _NAME_RACE_TRIES - 1:
                    raise
        raise AssertionError("unreachable")

    def _create_sweep(
        self,
        session: Session,
        name: str,
        grid: dict[str, Any],
        grid_hash: str,
        rows: list[dict[str, Any]],
        new: bool,
    ) -> SweepCreated:
        existing = session.execute(
            select(SweepModel.sweep_id, SweepModel.grid_hash).where(SweepModel.name == name)
        ).one_or_none()
        if existing is not None:
            if existing.grid_hash == grid_hash:
                return SweepCreated(existing.sweep_id, name, created=False)
            free = next_free_name(session, name)
            if not new:
                raise BadInput(
                    f"sweep {name} exists with a different grid; use --new to submit it as "
                    f"{free}, or pick another name"
                )
            name = free
        now = self._clock.now()
        sweep_id = session.scalar(
            insert(SweepModel)
            .values(name=name, grid=grid, grid_hash=grid_hash, status="queued", created_at=now)
            .returning(SweepModel.sweep_id)
        )
        assert sweep_id is not None
        if rows:
            for row in rows:
                row["sweep_id"] = sweep_id
            session.execute(insert(JobModel.__table__), rows)
            # Their messages are sent right after this commits.
            session.execute(
                update_rows(JobModel).where(JobModel.sweep_id == sweep_id).values(sent_at=now)
            )
        return SweepCreated(sweep_id, name, created=True)

    @_retrying
    def get_sweep(self, ref: str | int) -> SweepInfo:
        """A sweep by id or by name (a ref of digits is an id first: new names are never all
        digits); `NotFound` if there is none."""
        with self._read() as session:
            sweep = find_sweep(session, ref)
            return sweep_info(sweep, status_counts(session, sweep.sweep_id))

    @_retrying
    def sweep_status(self, sweep_id: int) -> str:
        """The sweep's status alone, what a wait reads ten times a second: without the count
        of its jobs by status that `get_sweep` makes each time."""
        with self._read() as session:
            status = session.scalar(
                select(SweepModel.status).where(SweepModel.sweep_id == sweep_id)
            )
            if status is None:
                raise NotFound(f"no sweep '{sweep_id}'")
            return status

    @_retrying
    def list_sweeps(self) -> list[SweepInfo]:
        with self._read() as session:
            sweeps = session.scalars(select(SweepModel).order_by(SweepModel.sweep_id)).all()
            counts = all_status_counts(session)
            empty = dict.fromkeys(JOB_STATUSES, 0)
            return [sweep_info(sweep, counts.get(sweep.sweep_id, empty)) for sweep in sweeps]

    @_retrying
    def mark_sweep_running(self, sweep_id: int) -> bool:
        """queued -> running; False when the sweep was anything else."""
        with self._write() as session:
            result = session.execute(
                update_rows(SweepModel)
                .where(SweepModel.sweep_id == sweep_id, SweepModel.status == "queued")
                .values(status="running")
            )
            if result.rowcount == 0:
                find_sweep(session, sweep_id)
            return result.rowcount == 1

    @_retrying
    def cancel_sweep(self, sweep_id: int) -> int:
        """Cancel the sweep and its queued and parked jobs (returns how many); running jobs stop
        at their next epoch boundary. A finished sweep stays finished."""
        with self._write() as session:
            find_sweep(session, sweep_id)
            now = self._clock.now()
            result = session.execute(
                update_rows(JobModel)
                .where(JobModel.sweep_id == sweep_id, JobModel.status.in_(("queued", "parked")))
                .values(status="cancelled", finished_at=now)
            )
            session.execute(
                update_rows(SweepModel)
                .where(
                    SweepModel.sweep_id == sweep_id,
                    SweepModel.status.in_(("queued", "running", "cancelled")),
                )
                .values(status="cancelled", finished_at=func.coalesce(SweepModel.finished_at, now))
            )
            return result.rowcount

    @_retrying
    def requeue_unfinished(self, sweep_id: int) -> list[int]:
        """Put back to `queued` every job not succeeded, diverged or stopped and not held on a
        live lease: queued, failed, cancelled, running on a lease that ran out. Their lost
        attempts are forgiven (a job that failed for lost workers runs again); the sweep becomes
        queued/running again. Returns those jobs' ids (to send again). `mnistgrid resume`."""
        with self._write() as session:
            return healing.requeue_unfinished(session, self._clock, sweep_id)

    # -- healing: what a dead worker or a lost message left behind ----------------------------

    @_retrying
    def take_over_lost_jobs(self, max_attempts: int, sweep_id: int | None = None) -> TakeOver:
        """Take every running job whose lease ran out (of one sweep, or of all): back to
        `queued`, to be sent again, or `failed` once it was lost `max_attempts` times without
        progress (db/leases.py). Of many reconcilers at once, each job is taken by one."""
        with self._write() as session:
            return healing.take_over_lost_jobs(session, self._clock, max_attempts, sweep_id)

    @_retrying
    def queued_jobs_sent_before(
        self, seconds: float, sweep_id: int | None = None
    ) -> list[JobInfo]:
        """Queued jobs whose latest message was sent more than `seconds` ago: lost, if no
        message for them can still be waiting in the broker (the caller checks the queues)."""
        where = healing.queued_sent_before(self._clock, seconds, sweep_id)
        with self._read() as session:
            return [JobInfo(*row) for row in session.connection().execute(job_select(where))]

    @_retrying
    def mark_sent_again(self, job_ids: Iterable[int], seconds: float) -> list[int]:
        """Stamp these queued jobs as sent now, those whose message is still older than
        `seconds`; returns them. Of several reconcilers, only the one that gets an id back
        sends it."""
        with self._write() as session:
            return healing.mark_sent_again(session, self._clock, job_ids, seconds)

    @_retrying
    def fail_queued_job(self, job_id: int, error: str) -> Finished:
        """Fail a queued job that can never run (its stored params no longer validate)."""
        with self._write() as session:
            sweep_id = healing.fail_queued(session, self._clock, job_id, error)
            if sweep_id is None:
                return Finished(applied=False, sweep_finished=False)
            ended, _ = rungs.settle_and_finish(session, self._clock, [sweep_id])
            return Finished(True, bool(ended), sweep_id)

    @_retrying
    def reports_requested_before(self, seconds: float, sweep_id: int | None = None) -> list[int]:
        """Finished sweeps whose report was asked for (or taken up) more than `seconds` ago
        and never ended: its request or its writer was lost."""
        where = [
            SweepModel.report_status == "requested",
            SweepModel.report_at < self._clock.ago(seconds),
        ]
        if sweep_id is not None:
            where.append(SweepModel.sweep_id == sweep_id)
        with self._read() as session:
            return list(session.scalars(select(SweepModel.sweep_id).where(*where)))

    @_retrying
    def mark_report_requested(self, sweep_id: int, older_than: float | None = None) -> bool:
        """Stamp the sweep's report as asked for now (a worker takes it up, or a reconcile
        asks again). With `older_than`, only if the last stamp is older: of several
        reconcilers, the one that gets True sends the request."""
        where = [SweepModel.sweep_id == sweep_id, SweepModel.report_status == "requested"]
        if older_than is not None:
            where.append(SweepModel.report_at < self._clock.ago(older_than))
        with self._write() as session:
            result = session.execute(
                update_rows(SweepModel).where(*where).values(report_at=self._clock.now())
            )
            return result.rowcount == 1

    @_retrying
    def end_report(self, sweep_id: int, error: str | None = None) -> None:
        """The sweep's report was written, or failed with `error`: what `--wait` tells."""
        with self._write() as session:
            session.execute(
                update_rows(SweepModel)
                .where(SweepModel.sweep_id == sweep_id)
                .values(
                    report_status="failed" if error else "written",
                    report_at=self._clock.now(),
                    report_error=error,
                )
            )

    # -- jobs -------------------------------------------------------------------------------

    @_retrying
    def sweep_jobs(self, sweep_id: int) -> list[JobInfo]:
        """Every job of the sweep with its last epoch: the status query (two SELECTs)."""
        with self._read() as session:
            find_sweep(session, sweep_id)
            # Core rows (session.connection()): the ORM result layer costs more than the query.
            rows = session.connection().execute(job_select(JobModel.sweep_id == sweep_id))
            return [JobInfo(*row) for row in rows]

    @_retrying
    def get_job(self, job_id: int) -> JobInfo:
        with self._read() as session:
            query = job_select(JobModel.job_id == job_id)
            row = session.connection().execute(query).one_or_none()
            if row is None:
                raise NotFound(f"no job {job_id}")
            return JobInfo(*row)

    @_retrying
    def claim_jobs(
        self,
        job_ids: Iterable[int],
        worker: str,
        lease_seconds: float,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    ) -> Claimed:
        """Take the jobs `worker` may run, atomically, each for `lease_seconds` from now.

        Skipped: ended jobs, and jobs another worker holds on a live lease (a duplicate
        delivery). A job of a cancelled sweep ends `cancelled`. A running job whose holder's
        lease ran out is taken over, its lost start counted first; one lost `max_attempts`
        times without progress ends `failed` instead (`Claimed.gave_up`). Each claim carries
        the spec and the last checkpoint to resume from.
        """
        with self._write() as session:
            return claims.claim_jobs(
                session, self._clock, job_ids, worker, lease_seconds, max_attempts
            )

    def claim_job(
        self,
        job_id: int,
        worker: str,
        lease_seconds: float,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    ) -> Claim | None:
        """`claim_jobs` of one job: its claim, or None when there is nothing to train."""
        claimed = self.claim_jobs([job_id], worker, lease_seconds, max_attempts).claims
        return claimed[0] if claimed else None

    @_retrying
    def renew_leases(
        self, job_ids: Iterable[int], worker: str, lease_seconds: float = DEFAULT_LEASE_SECONDS
    ) -> set[int]:
        """Renew `worker`'s leases on the jobs it still holds; returns those whose sweep is not
        cancelled (the others stop at their next epoch boundary)."""
        with self._write() as session:
            held = leases.renew(session, self._clock, set(job_ids), worker, lease_seconds)
            return {job_id for job_id, status in held.items() if status != "cancelled"}

    def heartbeat(
        self, job_id: int, worker: str, lease_seconds: float = DEFAULT_LEASE_SECONDS
    ) -> bool:
        """`renew_leases` of one job: False when it is no longer `worker`'s to train."""
        return job_id in self.renew_leases([job_id], worker, lease_seconds)

    @_retrying
    def release_jobs(self, job_ids: Iterable[int], worker: str) -> list[int]:
        """Hand running jobs back (their worker is shutting down): `queued` again, no lease,
        no attempt charged, their epochs and checkpoints kept. Only the holder can; returns
        the jobs handed back. The caller sends their messages again."""
        with self._write() as session:
            return leases.release(session, self._clock, set(job_ids), worker)

    def release_job(self, job_id: int, worker: str) -> bool:
        return self.release_jobs([job_id], worker) == [job_id]

    @_retrying
    def record_epochs(
        self,
        worker: str,
        writes: Sequence[EpochWrite],
        *,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        stop: StopCheck | None = None,
        share: ShareCheck | None = None,
    ) -> Recorded:
        """A stack's epoch in one transaction: for each job `worker` holds, its epoch row
        (re-written if there), its checkpoint, its lease renewed; the jobs that diverged end
        `diverged`; with `stop`, the sweep's rule decides at this epoch and the jobs it stops
        end `stopped`; with `share`, the members that idle slots should train are handed back
        as stacks of their own (`Recorded.shared`; db/sharing.py). Jobs no longer `worker`'s
        are not written (`keep_training` False)."""
        with self._write() as session:
            return epochs.record_epochs(
                session, self._clock, worker, lease_seconds, writes, stop, share
            )

    @_retrying
    def park_at_rungs(
        self, worker: str, resumed_after: Mapping[int, int], stop: StopCheck
    ) -> Recorded:
        """Of `worker`'s jobs about to resume after these epochs, those resuming from a rung
        whose decision they never met (parked, then cancelled and resumed) wait there again:
        parked, and the rung decided if that completes it (`Recorded.parked`, `.promoted`)."""
        with self._write() as session:
            due = epochs.waiting_at_rung(session, dict(resumed_after), stop)
            parked = rungs.park(session, self._clock, due, worker)
            touched = [stop.sweep_id] if parked else []
            finished, settled = rungs.settle_and_finish(session, self._clock, touched)
            return Recorded(
                keep_training=True,
                parked=tuple(parked),
                promoted=tuple(settled.promoted),
                stopped_at_rung=tuple(settled.stopped),
                sweeps_ended=tuple(finished),
            )

    def record_epoch(
        self,
        job_id: int,
        worker: str,
        row: EpochRow,
        checkpoint: bytes | None = None,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
    ) -> bool:
        """`record_epochs` of one job; False: stop (not `worker`'s, or its sweep cancelled)."""
        write = EpochWrite(job_id, row, checkpoint)
        return self.record_epochs(worker, [write], lease_seconds=lease_seconds).keep_training

    @_retrying
    def finish_job(
        self,
        job_id: int,
        status: str,
        *,
        worker: str,
        error: str | None = None,
    ) -> Finished:
        """End a running job that `worker` holds with a terminal status, its final and best
        accuracy summed up from its stored epochs. Anyone else's call changes nothing (falsy
        result): a job ends once, by its holder. `sweep_finished` is True for the call that
        ended the sweep's last job."""
        with self._write() as session:
            ended, sweeps_ended = self._end(session, [job_id], status, worker, error)
            if not ended:
                find_job(session, job_id)
                return Finished(applied=False, sweep_finished=False)
            return Finished(True, bool(sweeps_ended), ended[0])

    @_retrying
    def finish_jobs(
        self,
        job_ids: Collection[int],
        status: str,
        *,
        worker: str,
        error: str | None = None,
    ) -> list[int]:
        """`finish_job` of a stack's members in one transaction (one commit, not one each);
        jobs `worker` does not hold are left as they are. Returns the sweeps it ended."""
        with self._write() as session:
            return self._end(session, job_ids, status, worker, error)[1]

    def _end(
        self,
        session: Session,
        job_ids: Collection[int],
        status: str,
        worker: str,
        error: str | None,
    ) -> tuple[list[int], list[int]]:
        """The ended jobs' sweeps (with repeats), and the sweeps whose last job this ended."""
        if status not in TERMINAL_JOB_STATUSES:
            raise ValueError(
                f"a job's end status must be one of {TERMINAL_JOB_STATUSES}, not {status!r}"
            )
        holder = leases.held_by(worker)
        ended = endings.end_jobs(session, self._clock, job_ids, status, holder, error=error)
        return ended, rungs.settle_and_finish(session, self._clock, ended)[0]

    @_retrying
    def set_run_info(
        self, job_id: int, worker: str, run_info: Mapping[str, Any], device: str
    ) -> bool:
        """What a rerun needs (seed, data checksum, versions, device name), written only by the
        job's holder; False when `worker` does not hold it."""
        with self._write() as session:
            written = self._write_run_infos(session, worker, {job_id: run_info}, device)
            if not written:
                find_job(session, job_id)
            return written == 1

    @_retrying
    def set_run_infos(
        self, worker: str, run_infos: Mapping[int, Mapping[str, Any]], device: str
    ) -> int:
        """`set_run_info` of a stack's members (job id -> run info) in one transaction; returns
        how many `worker` held and were written."""
        with self._write() as session:
            return self._write_run_infos(session, worker, run_infos, device)

    def _write_run_infos(
        self,
        session: Session,
        worker: str,
        run_infos: Mapping[int, Mapping[str, Any]],
        device: str,
    ) -> int:
        written = 0
        for job_id, run_info in run_infos.items():
            written += session.execute(
                update_rows(JobModel)
                .where(JobModel.job_id == job_id, leases.held_by(worker))
                .values(run_info=json_value(run_info, "run_info"), device=device)
            ).rowcount
        return written

    # -- epochs -----------------------------------------------------------------------------

    @_retrying
    def epochs(self, job_id: int, after: int = 0) -> list[EpochRow]:
        """The job's epochs after epoch `after`, in order (empty for a job with none, or no
        such job)."""
        with self._read() as session:
            rows = session.connection().execute(
                select(*EPOCH_COLUMNS)
                .where(EpochModel.job_id == job_id, EpochModel.epoch > after)
                .order_by(EpochModel.epoch)
            )
            return epoch_rows(rows.all())

    @_retrying
    def standings(
        self,
        sweep_id: int,
        epoch: int,
        metric: str,
        *,
        best_so_far: bool = False,
        larger_is_better: bool = True,
    ) -> dict[int, tuple[str, float | None]]:
        """Every job of the sweep that has finished `epoch`: its model, and its `metric`
        (`valid_acc` or `valid_loss`) at that epoch, or with `best_so_far` its best up to it.
        None where the value is not finite. What an early-stopping rule decides from."""
        with self._read() as session:
            return standings.standings(
                session,
                sweep_id,
                epoch,
                metric,
                best_so_far=best_so_far,
                larger_is_better=larger_is_better,
            )

    @_retrying
    def sweep_changes(self, sweep_id: int, since: datetime | None) -> SweepChanges:
        """The jobs of the sweep written since `since` (claimed, an epoch or heartbeat, sent
        again, finished) or running on a lease that ran out, with every epoch of those jobs as
        points, `fresh` when written since; `since=None` reads every job. What a live view
        polls with: pass back the `read_at` it got. What was written in the STAMP_LAG_SECONDS
        before `since` counts as written since: the caller skips what it has."""
        with self._read() as session:
            return live.sweep_changes(session, self._clock, sweep_id, since)

    @_retrying
    def checkpoint(self, job_id: int) -> Checkpoint | None:
        """The job's latest checkpoint (its trained weights once it has ended), if any."""
        with self._read() as session:
            find_job(session, job_id)
            return latest_checkpoints(session, [job_id]).get(job_id)

    @_retrying
    def sweep_epochs(self, sweep_id: int) -> dict[int, list[EpochRow]]:
        """Every job of the sweep (in id order) to its epochs, in one query."""
        with self._read() as session:
            rows = (
                session.connection()
                .execute(
                    select(*EPOCH_COLUMNS, JobModel.job_id)
                    .select_from(JobModel)
                    .outerjoin(EpochModel, EpochModel.job_id == JobModel.job_id)
                    .where(JobModel.sweep_id == sweep_id)
                    .order_by(JobModel.job_id, EpochModel.epoch)
                )
                .all()
            )
            owner = len(EPOCH_COLUMNS)
            result: dict[int, list[EpochRow]] = {row[owner]: [] for row in rows}
            # A job with no epochs yet joins as one row of NULLs.
            stored = [row for row in rows if row[0] is not None]
            for row, epoch_row in zip(stored, epoch_rows(stored), strict=True):
                result[row[owner]].append(epoch_row)
            return result

    # -- big sweeps, a page at a time ---------------------------------------------------------

    # Rows per page: a page of epochs is a few MB of records, read in about 0.1 s.
    JOBS_PAGE = 1000
    EPOCHS_PAGE = 20_000

    @_retrying
    def jobs_page(self, sweep_id: int, after: int = 0, limit: int = JOBS_PAGE) -> list[JobInfo]:
        """Up to `limit` jobs of the sweep with ids above `after` (with their last epoch), in
        id order; `NotFound` for no such sweep."""
        with self._read() as session:
            find_sweep(session, sweep_id)
            return scans.jobs_page(session, sweep_id, after, limit)

    def scan_jobs(self, sweep_id: int, page: int = JOBS_PAGE) -> Iterator[list[JobInfo]]:
        """Every job of the sweep, in id order, as pages of `jobs_page`: one short
        transaction a page, so a reader of a 10,000-job sweep holds one page at a time."""
        after = 0
        while jobs := self.jobs_page(sweep_id, after, page):
            yield jobs
            after = jobs[-1].job_id

    @_retrying
    def epochs_page(
        self, sweep_id: int, after: tuple[int, int] = (0, 0), limit: int = EPOCHS_PAGE
    ) -> EpochPage:
        """Up to `limit` epochs of the sweep after the (job id, epoch) `after`, in that order;
        `NotFound` for no such sweep."""
        with self._read() as session:
            find_sweep(session, sweep_id)
            ids = scans.job_id_range(session, sweep_id)
            if ids is None:
                return EpochPage((), ())
            return scans.epochs_page(session, sweep_id, after, ids[1], limit)

    def scan_epochs(self, sweep_id: int, page: int = EPOCHS_PAGE) -> Iterator[EpochPage]:
        """Every stored epoch of the sweep in (job id, epoch) order, as pages of
        `epochs_page` (keyset pagination: each page starts after the last one's key)."""
        after = (0, 0)
        while rows := self.epochs_page(sweep_id, after, page):
            yield rows
            after = rows.last_key

    @_retrying
    def epochs_of(self, job_ids: Iterable[int]) -> dict[int, list[EpochRow]]:
        """Each of these jobs to its epochs, in order, in one query (no row: no such job)."""
        with self._read() as session:
            return scans.epochs_of(session, job_ids)

    # -- the worker roster ------------------------------------------------------------------

    @_retrying
    def check_in_worker(
        self, name: str, queues: Sequence[str], slots: int, seconds: float
    ) -> None:
        """Worker `name` is alive for `seconds` from now, consuming `queues` with `slots`
        processes (a synchronous rung spreads its survivors over the idle ones)."""
        with self._write() as session:
            roster.check_in(session, self._clock, name, list(queues), slots, seconds)

    @_retrying
    def check_out_worker(self, name: str) -> bool:
        """Worker `name` is gone (a warm shutdown); False when it was not on the roster."""
        with self._write() as session:
            return roster.check_out(session, name)

    def live_workers(self) -> list[WorkerInfo]:
        with self._read() as session:
            return roster.live_workers(session, self._clock)

    # -- plumbing ---------------------------------------------------------------------------

    @contextmanager
    def _read(self) -> Iterator[Session]:
        with session_scope(self._engine) as session:
            yield session

    @contextmanager
    def _write(self) -> Iterator[Session]:
        with session_scope(self._engine, write=True) as session:
            yield session


@functools.cache
def shared_store(url: str) -> Store:
    """One store per database URL for the life of this process (a worker's). A forked child
    keeps it: `dispose_after_fork()` gives its engine connections of the child's own."""
    return Store(url)
