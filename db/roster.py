"""The worker roster: which workers are alive, on which queues, with how many slots, and how
many of those slots have nothing to do.

A worker checks in from its healer every half lease, counting as alive for two of its own
leases after that, and checks out at a warm shutdown. Three things read the roster: a
synchronous rung, to spread its survivors over idle slots (db/rungs.py), a running stack at each
epoch boundary, to share its members with them (db/sharing.py), and a watch, to say when a
sweep waits on a queue no worker takes (orchestrator/progress.py). A stale row (a killed
worker) or a missing one (a worker between its start and its first check-in) only makes stacks
smaller or larger than they might be, or that notice early or late; it never loses or repeats
a job.

Private to db/: these work inside a session the store (db/store.py) opened.
"""

from __future__ import annotations

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from db.clock import Clock
from db.leases import lease_live
from db.models import JobModel, WorkerModel
from db.queries import update_rows
from db.records import WorkerInfo


def check_in(
    session: Session, clock: Clock, name: str, queues: list[str], slots: int, seconds: float
) -> None:
    """`name` is alive for `seconds` from now, consuming `queues` with `slots` processes."""
    values = {
        "queues": ",".join(queues),
        "slots": slots,
        "seen_at": clock.now(),
        "alive_until": clock.ahead(seconds),
    }
    # Only the worker itself writes its row: no other writer can insert it in between.
    updated = session.execute(
        update_rows(WorkerModel).where(WorkerModel.name == name).values(**values)
    )
    if not updated.rowcount:
        session.execute(insert(WorkerModel).values(name=name, **values))


def check_out(session: Session, name: str) -> bool:
    return bool(session.execute(delete(WorkerModel).where(WorkerModel.name == name)).rowcount)


def live_workers(session: Session, clock: Clock) -> list[WorkerInfo]:
    """Every worker alive now, by name."""
    return [
        WorkerInfo(name, tuple(queues.split(",")), slots)
        for name, queues, slots in session.execute(
            select(WorkerModel.name, WorkerModel.queues, WorkerModel.slots)
            .where(WorkerModel.alive_until > clock.now())
            .order_by(WorkerModel.name)
        )
    ]


def idle_slots(session: Session, clock: Clock, queue: str) -> int:
    """The live slots consuming `queue` that neither train a stack nor have one waiting for
    them. Running and queued stacks are counted whatever their queue: in a mix of CPU and GPU
    workers this errs towards fewer idle slots, which keeps stacks whole."""
    slots = sum(w.slots for w in live_workers(session, clock) if queue in w.queues)
    if not slots:
        return 0
    busy = session.scalar(
        select(func.count(func.distinct(JobModel.worker))).where(
            JobModel.status == "running", lease_live(clock)
        )
    )
    if busy >= slots:
        return 0  # the common case, read every epoch of a stack: no need to count the queue
    queued = session.execute(
        select(JobModel.group_key, func.count())
        .where(JobModel.status == "queued")
        .group_by(JobModel.group_key)
    ).all()
    # Jobs without a group key train alone: a stack each.
    waiting = sum(count if key is None else 1 for key, count in queued)
    return max(0, slots - busy - waiting)
