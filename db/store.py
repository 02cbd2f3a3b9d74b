"""The one door to the database: every read and write of sweeps, jobs, epochs and checkpoints.

    store = Store("sqlite:///mnistgrid.db")
    claim = store.claim_job(job_id, worker="host:1234", lease_seconds=60.0)

Each public method is one short transaction and hands back frozen records (db/records.py); no
session stays open between calls. A transient `OperationalError` (PostgreSQL restarting, a
dropped connection, a deadlock, SQLite still locked after its busy timeout) is retried with
backoff, about 30 s in all; every write is idempotent, so a retry after an unknown outcome is safe.

Leases: a running job belongs to `jobs.worker` while `jobs.heartbeat_at` is younger than the
caller's `lease_seconds`. Times come from the database server's clock on PostgreSQL (workers on
several machines) and from the local clock on SQLite (one machine).
"""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import (
    ColumnElement,
    Engine,
    and_,
    exc,
    func,
    insert,
    literal,
    or_,
    select,
    true,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from db.engine import make_engine, safe_url, session_scope
from db.errors import DatabaseUnavailable
from db.migrate import ensure_current, first_line
from db.models import (
    UNFINISHED_JOB_STATUSES,
    CheckpointModel,
    EpochModel,
    JobModel,
    SweepModel,
    UTCDateTime,
)
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
    EpochPoint,
    EpochRow,
    Finished,
    JobInfo,
    LostJob,
    NewJob,
    SweepChanges,
    SweepCreated,
    SweepInfo,
    TakeOver,
    gave_up_error,
)
from db.rows import (
    EPOCH_COLUMNS,
    epoch_rows,
    epoch_values,
    finite,
    job_rows,
    json_value,
    sweep_info,
)
from mnistgrid.errors import BadInput, NotFound
from mnistgrid.settings import Settings

DEFAULT_LEASE_SECONDS: float = Settings.model_fields["lease_seconds"].default
# Pauses between tries: 6 tries over about 30 s (each pause is jittered down to half).
RETRY_DELAYS: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0, 15.0)
# Tries of create_sweep when another process takes the same name between our read and insert.
_NAME_RACE_TRIES = 3
# A write stamps its rows before it commits (PostgreSQL's now() is its transaction's start), so
# a row can become visible after a reader's clock has passed its stamp: `sweep_changes` looks
# this far back before the moment it is given. Writes last milliseconds; this is ample.
STAMP_LAG_SECONDS = 2.0

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
            ensure_current(self._engine)
        except BaseException:
            self._engine.dispose()
            raise
        self._postgres = self._engine.dialect.name == "postgresql"

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
        sweep_id = session.scalar(
            insert(SweepModel)
            .values(
                name=name,
                grid=grid,
                grid_hash=grid_hash,
                status="queued",
                created_at=self._now(),
            )
            .returning(SweepModel.sweep_id)
        )
        assert sweep_id is not None
        if rows:
            for row in rows:
                row["sweep_id"] = sweep_id
            session.execute(insert(JobModel.__table__), rows)
            # Their messages are sent right after this commits.
            session.execute(
                update_rows(JobModel)
                .where(JobModel.sweep_id == sweep_id)
                .values(sent_at=self._now())
            )
        return SweepCreated(sweep_id, name, created=True)

    @_retrying
    def get_sweep(self, ref: str | int) -> SweepInfo:
        """A sweep by id or by name (a name made of digits wins over the id it spells);
        `NotFound` if there is none."""
        with self._read() as session:
            sweep = find_sweep(session, ref)
            return sweep_info(sweep, status_counts(session, sweep.sweep_id))

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
        """Cancel the sweep and its queued jobs (returns how many); running jobs stop at their
        next heartbeat. A finished sweep stays finished."""
        with self._write() as session:
            find_sweep(session, sweep_id)
            now = self._now()
            result = session.execute(
                update_rows(JobModel)
                .where(JobModel.sweep_id == sweep_id, JobModel.status == "queued")
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
    def requeue_unfinished(
        self, sweep_id: int, *, lease_seconds: float = DEFAULT_LEASE_SECONDS
    ) -> list[int]:
        """Put back to `queued` every job not succeeded or diverged and not held by a live
        worker: queued, failed, cancelled, running with a lease older than `lease_seconds`.
        The sweep becomes queued/running again. Returns those jobs' ids (to send again).

        This is the one backward move a job makes (`mnistgrid resume`); attempts are kept.
        """
        with self._write() as session:
            find_sweep(session, sweep_id)
            requeued = session.scalars(
                update_rows(JobModel)
                .where(
                    JobModel.sweep_id == sweep_id,
                    or_(
                        JobModel.status.in_(("queued", "failed", "cancelled")),
                        and_(JobModel.status == "running", ~self._lease_live(lease_seconds)),
                    ),
                )
                .values(
                    status="queued",
                    worker=None,
                    heartbeat_at=None,
                    finished_at=None,
                    error=None,
                    sent_at=self._now(),
                )
                .returning(JobModel.job_id)
            ).all()
            self._reopen_sweep(session, sweep_id)
            return sorted(requeued)

    def _reopen_sweep(self, session: Session, sweep_id: int) -> None:
        counts = status_counts(session, sweep_id)
        reopened = {"finished_at": None, "report_status": None, "report_error": None}
        if counts["running"]:
            values: dict[str, Any] = {"status": "running", **reopened}
        elif counts["queued"]:
            values = {"status": "queued", **reopened}
        else:  # nothing left to run: every job succeeded or diverged
            values = {
                "status": "finished",
                "finished_at": func.coalesce(SweepModel.finished_at, self._now()),
            }
        session.execute(
            update_rows(SweepModel).where(SweepModel.sweep_id == sweep_id).values(**values)
        )

    # -- healing: what a dead worker or a lost message left behind ----------------------------

    @_retrying
    def take_over_lost_jobs(
        self, lease_seconds: float, max_attempts: int, sweep_id: int | None = None
    ) -> TakeOver:
        """Take every running job whose lease expired (of one sweep, or of all): back to
        `queued`, to be sent again, or `failed` once it was started `max_attempts` times.

        Safe when many reconcilers run at once: the rows are locked as they are read
        (PostgreSQL; SQLite holds its write lock from BEGIN), and the update checks the lease
        again, so each lost job is taken by exactly one caller.
        """
        where = [JobModel.status == "running", ~self._lease_live(lease_seconds)]
        if sweep_id is not None:
            where.append(JobModel.sweep_id == sweep_id)
        with self._write() as session:
            found = session.execute(
                select(JobModel.job_id, JobModel.sweep_id, JobModel.worker, JobModel.attempts)
                .where(*where)
                .order_by(JobModel.job_id)
                .with_for_update(skip_locked=True)
            ).all()
            lost = [
                LostJob(row.job_id, row.sweep_id, row.worker, row.attempts, requeued=False)
                for row in found
            ]
            lost = [self._take_over(session, job, lease_seconds, max_attempts) for job in lost]
            failed_in = sorted({job.sweep_id for job in lost if not job.requeued})
            ended = [s for s in failed_in if self._finish_sweep_if_done(session, s)]
            return TakeOver(tuple(lost), tuple(ended))

    def _take_over(
        self, session: Session, job: LostJob, lease_seconds: float, max_attempts: int
    ) -> LostJob:
        still_lost = [
            JobModel.job_id == job.job_id,
            JobModel.status == "running",
            JobModel.worker == job.worker,
            ~self._lease_live(lease_seconds),
        ]
        if job.attempts < max_attempts:
            # `worker` keeps the lost holder's name: `mnistgrid status` and a later give-up
            # can still say which worker it was.
            session.execute(
                update_rows(JobModel)
                .where(*still_lost)
                .values(status="queued", heartbeat_at=None, sent_at=self._now())
            )
            return replace(job, requeued=True)
        error = gave_up_error(job.attempts, job.worker, max_attempts)
        session.execute(
            update_rows(JobModel)
            .where(*still_lost)
            .values(status="failed", finished_at=self._now(), error=error)
        )
        return job

    @_retrying
    def queued_jobs_sent_before(
        self, seconds: float, sweep_id: int | None = None
    ) -> list[JobInfo]:
        """Queued jobs whose latest message was sent more than `seconds` ago: lost, if no
        message for them can still be waiting in the broker (the caller checks the queues)."""
        where = and_(
            JobModel.status == "queued",
            or_(JobModel.sent_at.is_(None), JobModel.sent_at < self._ago(seconds)),
            JobModel.sweep_id == sweep_id if sweep_id is not None else true(),
        )
        with self._read() as session:
            return [JobInfo(*row) for row in session.connection().execute(job_select(where))]

    @_retrying
    def mark_sent_again(self, job_ids: Iterable[int], seconds: float) -> list[int]:
        """Stamp these queued jobs as sent now, those whose message is still older than
        `seconds`; returns them. Of several reconcilers, only the one that gets an id back
        sends it."""
        ids = sorted(set(job_ids))
        if not ids:
            return []
        with self._write() as session:
            marked = session.scalars(
                update_rows(JobModel)
                .where(
                    JobModel.job_id.in_(ids),
                    JobModel.status == "queued",
                    or_(JobModel.sent_at.is_(None), JobModel.sent_at < self._ago(seconds)),
                )
                .values(sent_at=self._now())
                .returning(JobModel.job_id)
            ).all()
            return sorted(marked)

    @_retrying
    def reports_requested_before(self, seconds: float, sweep_id: int | None = None) -> list[int]:
        """Finished sweeps whose report was asked for (or taken up) more than `seconds` ago
        and never ended: its request or its writer was lost."""
        where = [
            SweepModel.report_status == "requested",
            SweepModel.report_at < self._ago(seconds),
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
            where.append(SweepModel.report_at < self._ago(older_than))
        with self._write() as session:
            result = session.execute(
                update_rows(SweepModel).where(*where).values(report_at=self._now())
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
                    report_at=self._now(),
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
        max_attempts: int | None = None,
    ) -> list[Claim]:
        """Take the jobs this worker may run, atomically, by the rules of `claim_job`. A job
        already started `max_attempts` times is not started again: it comes back `exhausted`,
        unchanged, for the caller to fail."""
        ids = sorted(set(job_ids))
        if not ids:
            return []
        with self._write() as session:
            rows = session.execute(
                select(
                    JobModel.job_id,
                    JobModel.sweep_id,
                    JobModel.status,
                    JobModel.worker,
                    JobModel.attempts,
                    JobModel.params,
                    JobModel.group_key,
                    SweepModel.status.label("sweep_status"),
                    self._lease_live(lease_seconds).label("lease_live"),
                )
                .join(SweepModel, SweepModel.sweep_id == JobModel.sweep_id)
                .where(JobModel.job_id.in_(ids))
                .order_by(JobModel.job_id)
                # Row locks on PostgreSQL; SQLite holds the whole write lock since BEGIN.
                .with_for_update(of=JobModel)
            ).all()
            taken, cancelled, exhausted = [], [], []
            for row in rows:
                if row.status in TERMINAL_JOB_STATUSES:
                    continue
                if row.status == "running" and row.worker != worker and row.lease_live:
                    continue  # a duplicate delivery: the holder is alive
                if row.sweep_status == "cancelled":
                    cancelled.append(row.job_id)
                    continue
                if max_attempts is not None and row.attempts >= max_attempts:
                    exhausted.append(row)
                    continue
                taken.append(row)
            now = self._now()
            if cancelled:
                session.execute(
                    update_rows(JobModel)
                    .where(JobModel.job_id.in_(cancelled))
                    .values(status="cancelled", finished_at=now)
                )
            spent = [
                Claim(
                    job_id=r.job_id,
                    sweep_id=r.sweep_id,
                    attempt=r.attempts,
                    spec=r.params,
                    checkpoint=None,
                    group_key=r.group_key,
                    exhausted=True,
                    last_worker=r.worker,
                )
                for r in exhausted
            ]
            if not taken:
                return spent
            taken_ids = [row.job_id for row in taken]
            session.execute(
                update_rows(JobModel)
                .where(JobModel.job_id.in_(taken_ids))
                .values(
                    status="running",
                    attempts=JobModel.attempts + 1,
                    worker=worker,
                    heartbeat_at=now,
                    started_at=func.coalesce(JobModel.started_at, now),
                )
            )
            session.execute(
                update_rows(SweepModel)
                .where(
                    SweepModel.sweep_id.in_({row.sweep_id for row in taken}),
                    SweepModel.status == "queued",
                )
                .values(status="running")
            )
            saved = latest_checkpoints(session, taken_ids)
            return spent + [
                Claim(
                    job_id=row.job_id,
                    sweep_id=row.sweep_id,
                    attempt=row.attempts + 1,
                    spec=row.params,
                    checkpoint=saved.get(row.job_id),
                    group_key=row.group_key,
                )
                for row in taken
            ]

    def claim_job(self, job_id: int, worker: str, lease_seconds: float) -> Claim | None:
        """Take the job for `worker`, or None when there is nothing for this delivery to do.

        None: the job is finished (or absent); its sweep is cancelled (the job is then marked
        cancelled); another worker holds it with a heartbeat younger than `lease_seconds`.
        Otherwise the job is running for `worker`, attempts += 1, and the claim carries the
        spec and the last checkpoint to resume from.
        """
        claims = self.claim_jobs([job_id], worker, lease_seconds)
        return claims[0] if claims else None

    @_retrying
    def heartbeat(self, job_id: int, worker: str) -> bool:
        """Renew the lease. False: the job is no longer this worker's, or its sweep was
        cancelled; stop at the end of the epoch."""
        with self._write() as session:
            sweep_status = self._renew_lease(session, job_id, worker)
            return sweep_status is not None and sweep_status != "cancelled"

    @_retrying
    def release_job(self, job_id: int, worker: str) -> bool:
        """Hand a running job back (its worker is shutting down): `queued` again, no lease, its
        epochs and checkpoint kept. Only the worker that holds it can; False otherwise."""
        with self._write() as session:
            result = session.execute(
                update_rows(JobModel)
                .where(
                    JobModel.job_id == job_id,
                    JobModel.status == "running",
                    JobModel.worker == worker,
                )
                # Its worker sends its message again right after this commits.
                .values(status="queued", worker=None, heartbeat_at=None, sent_at=self._now())
            )
            return result.rowcount == 1

    @_retrying
    def record_epoch(
        self, job_id: int, worker: str, row: EpochRow, checkpoint: bytes | None = None
    ) -> bool:
        """Write (or re-write) one epoch and the job's checkpoint in one transaction, and
        renew the lease. Written only while `worker` holds the job; returns what `heartbeat`
        returns (False: stop)."""
        values = epoch_values(row)
        with self._write() as session:
            sweep_status = self._renew_lease(session, job_id, worker)
            if sweep_status is None:
                return False
            now = self._now()
            self._upsert(
                session,
                EpochModel,
                {"job_id": job_id, **values, "recorded_at": now},
                keys=("job_id", "epoch"),
            )
            if checkpoint is not None:
                self._upsert(
                    session,
                    CheckpointModel,
                    {"job_id": job_id, "epoch": row.epoch, "state": checkpoint, "saved_at": now},
                    keys=("job_id",),
                )
            return sweep_status != "cancelled"

    def _renew_lease(self, session: Session, job_id: int, worker: str) -> str | None:
        """The sweep's status if `worker` holds the running job (lease renewed), else None."""
        sweep_status = (
            select(SweepModel.status)
            .where(SweepModel.sweep_id == JobModel.sweep_id)
            .scalar_subquery()
        )
        return session.scalar(
            update_rows(JobModel)
            .where(
                JobModel.job_id == job_id,
                JobModel.worker == worker,
                JobModel.status == "running",
            )
            .values(heartbeat_at=self._now())
            .returning(sweep_status)
        )

    @_retrying
    def finish_job(
        self,
        job_id: int,
        status: str,
        *,
        error: str | None = None,
        final_acc: float | None = None,
        best_acc: float | None = None,
        best_epoch: int | None = None,
        train_seconds: float | None = None,
        device: str | None = None,
        run_info: Mapping[str, Any] | None = None,
    ) -> Finished:
        """Move an unfinished job to a terminal status; a finished job never changes again
        (falsy result). `sweep_finished` is True for the call that ended the sweep's last job.
        """
        if status not in TERMINAL_JOB_STATUSES:
            raise ValueError(f"finish_job status must be one of {TERMINAL_JOB_STATUSES}")
        given = {
            "error": error,
            "final_acc": finite(final_acc, "final_acc"),
            "best_acc": finite(best_acc, "best_acc"),
            "best_epoch": best_epoch,
            "train_seconds": finite(train_seconds, "train_seconds"),
            "device": device,
            "run_info": json_value(run_info, "run_info") if run_info is not None else None,
        }
        values = {key: value for key, value in given.items() if value is not None}
        with self._write() as session:
            sweep_id = session.scalar(
                update_rows(JobModel)
                .where(JobModel.job_id == job_id, JobModel.status.in_(UNFINISHED_JOB_STATUSES))
                .values(status=status, finished_at=self._now(), **values)
                .returning(JobModel.sweep_id)
            )
            if sweep_id is None:
                find_job(session, job_id)
                return Finished(applied=False, sweep_finished=False)
            return Finished(True, self._finish_sweep_if_done(session, sweep_id), sweep_id)

    def _finish_sweep_if_done(self, session: Session, sweep_id: int) -> bool:
        # The sweep row lock makes two jobs finishing at once agree on which one was last.
        status = session.scalar(
            select(SweepModel.status).where(SweepModel.sweep_id == sweep_id).with_for_update()
        )
        if status not in ("queued", "running"):
            return False
        unfinished = session.scalar(
            select(func.count())
            .select_from(JobModel)
            .where(
                JobModel.sweep_id == sweep_id,
                JobModel.status.in_(UNFINISHED_JOB_STATUSES),
            )
        )
        if unfinished:
            return False
        # The report is asked for in the same transaction: a worker that dies before sending
        # the request leaves it `requested`, and the reconcile sends it.
        session.execute(
            update_rows(SweepModel)
            .where(SweepModel.sweep_id == sweep_id)
            .values(
                status="finished",
                finished_at=self._now(),
                report_status="requested",
                report_at=self._now(),
                report_error=None,
            )
        )
        return True

    @_retrying
    def set_run_info(self, job_id: int, run_info: Mapping[str, Any], device: str) -> None:
        """What a rerun needs (seed, data checksum, versions, device name)."""
        with self._write() as session:
            result = session.execute(
                update_rows(JobModel)
                .where(JobModel.job_id == job_id)
                .values(run_info=json_value(run_info, "run_info"), device=device)
            )
            if result.rowcount == 0:
                raise NotFound(f"no job {job_id}")

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
        column = {"valid_acc": EpochModel.valid_acc, "valid_loss": EpochModel.valid_loss}[metric]
        reached = and_(JobModel.sweep_id == sweep_id, EpochModel.job_id == JobModel.job_id)
        if best_so_far:
            best = func.max(column) if larger_is_better else func.min(column)
            query = (
                select(JobModel.job_id, JobModel.model, best)
                .where(reached, EpochModel.epoch <= epoch)
                .group_by(JobModel.job_id, JobModel.model)
                .having(func.max(EpochModel.epoch) >= epoch)
            )
        else:
            query = select(JobModel.job_id, JobModel.model, column).where(
                reached, EpochModel.epoch == epoch
            )
        with self._read() as session:
            rows = session.execute(query).all()
            return {job_id: (model, value) for job_id, model, value in rows}

    @_retrying
    def sweep_changes(
        self, sweep_id: int, since: datetime | None, lease_seconds: float
    ) -> SweepChanges:
        """The jobs of the sweep written since `since` (claimed, an epoch or heartbeat, sent
        again, finished) or running on a lease older than `lease_seconds`, with every epoch
        of those jobs as points, `fresh` when written since; `since=None` reads every job.
        What a live view polls with: pass back the `read_at` it got. What was written in the
        STAMP_LAG_SECONDS before `since` counts as written since: the caller skips what it
        has."""
        with self._read() as session:
            read_at = self._clock(session)
            find_sweep(session, sweep_id)
            where: ColumnElement[bool] = JobModel.sweep_id == sweep_id
            fresh: ColumnElement[bool] = true()
            if since is not None:
                since -= timedelta(seconds=STAMP_LAG_SECONDS)
                where = and_(where, self._changed_since(since, lease_seconds))
                fresh = EpochModel.recorded_at >= since
            connection = session.connection()
            jobs = tuple(JobInfo(*row) for row in connection.execute(job_select(where)).all())
            # .all(): fetching 40,000 rows at once costs a quarter of fetching them one by one.
            points = connection.execute(
                select(
                    EpochModel.job_id,
                    EpochModel.epoch,
                    EpochModel.valid_acc,
                    EpochModel.seconds,
                    fresh,
                )
                .where(EpochModel.job_id.in_(select(JobModel.job_id).where(where)))
                .order_by(EpochModel.job_id, EpochModel.epoch)
            ).all()
            return SweepChanges(
                read_at, jobs, tuple(EpochPoint(j, e, a, s, bool(f)) for j, e, a, s, f in points)
            )

    def _changed_since(self, since: datetime, lease_seconds: float) -> ColumnElement[bool]:
        # Every write to a job stamps one of these (an epoch renews the heartbeat); a lost
        # lease is the one change nobody writes.
        return or_(
            JobModel.heartbeat_at >= since,
            JobModel.sent_at >= since,
            JobModel.finished_at >= since,
            and_(JobModel.status == "running", ~self._lease_live(lease_seconds)),
        )

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

    # -- plumbing ---------------------------------------------------------------------------

    @contextmanager
    def _read(self) -> Iterator[Session]:
        with session_scope(self._engine) as session:
            yield session

    @contextmanager
    def _write(self) -> Iterator[Session]:
        with session_scope(self._engine, write=True) as session:
            yield session

    def _now(self) -> ColumnElement[datetime]:
        """Now, as SQL: the server's clock on PostgreSQL, this machine's on SQLite."""
        if self._postgres:
            return func.now()
        return literal(datetime.now(UTC), UTCDateTime())

    def _clock(self, session: Session) -> datetime:
        """Now on the clock `_now` writes with, as a value (PostgreSQL: this transaction's
        start)."""
        if self._postgres:
            return session.scalar(select(func.now())).astimezone(UTC)
        return datetime.now(UTC)

    def _ago(self, seconds: float) -> Any:
        """`seconds` before now, on the clock `_now` uses."""
        if self._postgres:
            return func.now() - timedelta(seconds=seconds)
        return datetime.now(UTC) - timedelta(seconds=seconds)

    def _lease_live(self, lease_seconds: float) -> ColumnElement[bool]:
        return and_(
            JobModel.heartbeat_at.is_not(None), JobModel.heartbeat_at > self._ago(lease_seconds)
        )

    def _upsert(
        self,
        session: Session,
        model: type[EpochModel] | type[CheckpointModel],
        values: dict[str, Any],
        keys: tuple[str, ...],
    ) -> None:
        dialect = postgresql if self._postgres else sqlite
        statement = dialect.insert(model.__table__).values(**values)
        statement = statement.on_conflict_do_update(
            index_elements=list(keys),
            set_={name: statement.excluded[name] for name in values if name not in keys},
        )
        session.execute(statement)


@functools.cache
def shared_store(url: str) -> Store:
    """One store per database URL for the life of this process (a worker's). A forked child
    keeps it: `dispose_after_fork()` gives its engine connections of the child's own."""
    return Store(url)
