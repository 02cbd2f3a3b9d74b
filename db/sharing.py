"""Sharing a stack with idle workers: at an epoch boundary, a stack with work left that sees
idle slots on its queue (db/roster.py) keeps one part of its members and hands the other parts
back, each queued as a stack of its own, to resume from the checkpoints of the epoch just
recorded. Without it, a sweep's last stack (or a rung's survivors decided while the other
workers were busy) trains on one worker to its end while the others wait.

A hand-back costs the jobs nothing (no attempt, no epoch); a roster that is wrong only splits
a stack that need not have been, or leaves whole one that could have been.

Private to db/: `share_out` works inside a session the store (db/store.py) opened.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.clock import Clock
from db.leases import release
from db.models import JobModel
from db.records import ShareCheck
from db.roster import idle_slots
from mnistgrid.core.stacking import group_key
from mnistgrid.spec import JobSpec

# Fewer epochs left than this and a part would spend more on moving (a claim, its
# checkpoints, its data) than it saves.
SHARE_MIN_EPOCHS = 2


def worth_sharing(members: int, epochs_left: int) -> bool:
    return members >= 2 and epochs_left >= SHARE_MIN_EPOCHS


def share_out(
    session: Session,
    clock: Clock,
    worker: str,
    staying: list[int],
    share: ShareCheck,
    epoch: int,
) -> list[int]:
    """Of `worker`'s jobs `staying` in its stack after `epoch`, hand back those that idle slots
    should train: one part per idle slot besides its own (no more parts than members), each
    `queued`, unleased, with a stack key of its own. Returns the jobs handed back."""
    if not worth_sharing(len(staying), share.epochs - epoch):
        return []  # no roster read for a stack that could not split anyway
    n = min(len(staying), idle_slots(session, clock, share.queue) + 1)
    members = sorted(staying)
    handed: list[int] = []
    for part in (members[i::n] for i in range(1, n)):
        handed += hand_back(session, clock, worker, part, epoch)
    return sorted(handed)


def hand_back(
    session: Session, clock: Clock, worker: str, part: list[int], epoch: int
) -> list[int]:
    """The jobs of `part` that `worker` holds, queued again as one stack."""
    key = None
    if len(part) > 1:
        params = session.scalars(
            select(JobModel.params).where(JobModel.job_id.in_(part)).order_by(JobModel.job_id)
        ).all()
        key = group_key([JobSpec.model_validate(p) for p in params], salt=f"shared {epoch}:")
    return release(session, clock, part, worker, group_key=key)
