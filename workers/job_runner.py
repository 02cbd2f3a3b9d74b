"""Run the jobs one task message names: claim, train, record every epoch, finish.

The store is the truth: a job another live worker holds, or one already finished, is skipped,
so a duplicate delivery is harmless; a job taken over from a dead worker resumes from its last
checkpoint. From the claim on, a lease keeper holds every claimed job's lease and the grid's
time limit; whatever fails before or during training fails the job at once, with its error;
a worker shutting down hands its jobs back at the next epoch boundary, at no cost to them,
and a stack with work left hands part of its members to idle workers there (db/sharing.py).
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from pydantic import ValidationError
from sqlalchemy.exc import InterfaceError, OperationalError

from db.records import Claim, EpochRow, EpochWrite, Recorded, ShareCheck, StopCheck, SweepInfo
from db.store import Store
from mnistgrid import __version__
from mnistgrid.core.checkpoint import load_checkpoint, save_checkpoint
from mnistgrid.core.learner import MemberState, StopTraining, resolve_device
from mnistgrid.core.models import member_shapes
from mnistgrid.core.results import EpochMetrics, FitResult, MemberEpoch
from mnistgrid.core.train_data import TrainData
from mnistgrid.core.training import train_jobs
from mnistgrid.data.datasets import load_task
from mnistgrid.errors import describe_validation_error
from mnistgrid.routing import queue_of
from mnistgrid.settings import Settings
from mnistgrid.spec import DataSpec, JobSpec, StopSpec
from workers.lease import LeaseKeeper

log = logging.getLogger(__name__)


def epoch_row(metrics: EpochMetrics) -> EpochRow:
    return EpochRow(
        metrics.epoch,
        metrics.train_loss,
        metrics.valid_loss,
        metrics.valid_acc,
        metrics.per_class_acc,
        metrics.seconds,
    )


_on_device: dict[tuple[str, DataSpec, str], TrainData] = {}


def task_data(settings: Settings, spec: DataSpec, device: torch.device) -> TrainData:
    """The job's tensors: memoised per process by `load_task`, and on a GPU the one copy there
    kept for the jobs that follow (the host-to-device copy is the slow part)."""
    data = load_task(settings.data_dir, settings.cache_dir, spec)
    if device.type == "cpu":
        return data
    key = (data.checksum, spec, str(device))
    if key not in _on_device:
        _on_device.clear()  # one task's tensors on the device at a time
        _on_device[key] = data.to(device)
    return _on_device[key]


def run_info(spec: JobSpec, data: TrainData, device: torch.device) -> dict[str, object]:
    """What `mnistgrid rerun` needs to train the job again exactly."""
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    return {
        "seed": spec.seed,
        "data_checksum": data.checksum,
        "torch": torch.__version__,
        "mnistgrid": __version__,
        "device": str(device),
        "device_name": name,
    }


@dataclass
class Outcome:
    """What a run did beyond the store: sweeps it ended, and jobs it handed back."""

    sweeps_ended: list[int] = field(default_factory=list)
    handed_back: list[int] = field(default_factory=list)
    stopped: list[int] = field(default_factory=list)  # by the sweep's early-stopping rule
    parked: list[int] = field(default_factory=list)  # waiting at a rung (sha, hyperband)
    promoted: list[int] = field(default_factory=list)  # past a rung: queued, to be sent
    shared: list[int] = field(default_factory=list)  # handed to idle workers: sent already

    def add(self, recorded: Recorded) -> None:
        """What a store write that may stop, park, promote or share jobs did."""
        self.sweeps_ended += recorded.sweeps_ended
        self.stopped += [*recorded.stopped, *recorded.stopped_at_rung]
        self.parked += recorded.parked
        self.promoted += recorded.promoted
        self.shared += recorded.shared


@dataclass(frozen=True)
class SetUp:
    """A stack ready to train: its specs, device, data and where each member resumes."""

    specs: list[JobSpec]
    data: TrainData
    start: list[MemberState | None]


class SetUpFailed(Exception):
    """The stack cannot train; the message says why, for the jobs' `error`."""


def never() -> bool:
    return False


# Sends the messages of jobs of a sweep handed back in the middle of a task: a stack's shared
# members. Called with the sweep's id and the jobs'.
Send = Callable[[int, list[int]], None]


@dataclass
class JobRunner:
    store: Store
    settings: Settings
    worker: str
    # True once the worker is shutting down: stop at the next epoch boundary and hand back.
    shutting_down: Callable[[], bool] = never
    # With it, a stack shares its members with idle workers (db/sharing.py); without, never.
    send: Send | None = None

    def run(self, job_ids: Sequence[int]) -> Outcome:
        """Train what can be claimed of `job_ids`."""
        settings, outcome = self.settings, Outcome()
        claimed = self.store.claim_jobs(
            job_ids, self.worker, settings.lease_seconds, settings.max_attempts
        )
        outcome.sweeps_ended += claimed.sweeps_ended
        if not claimed.claims:
            return outcome
        sweep = self.store.get_sweep(claimed.claims[0].sweep_id)
        keeper = LeaseKeeper(
            self.store,
            [c.job_id for c in claimed.claims],
            self.worker,
            settings.lease_seconds,
            float(sweep.grid["train"]["time_limit"]),
        )
        with keeper:
            groups = by_checkpoint_epoch(list(claimed.claims))
            for at, group in enumerate(groups):
                if keeper.timed_out:
                    break
                if self.shutting_down():
                    self.hand_back([c for rest in groups[at:] for c in rest], outcome)
                    break
                self.train(group, sweep, outcome)
        outcome.sweeps_ended += keeper.sweeps_ended
        return outcome

    def train(self, claims: list[Claim], sweep: SweepInfo, outcome: Outcome) -> None:
        try:
            ready = self.set_up(claims)
            if self.shutting_down():
                return self.hand_back(claims, outcome)
            stop = stop_check(sweep, ready.specs[0])
            claims, ready = self.wait_at_rungs(claims, ready, stop, outcome)
            if not claims:
                return None
            recorder = EpochRecorder(self, claims, outcome, stop, self.share_check(ready.specs))
            results = train_jobs(ready.specs, ready.data, recorder, ready.start)
        except SetUpFailed as error:
            return self.fail(claims, str(error), outcome)
        except Exception as error:  # noqa: BLE001 - a job's own error is data, stored with it
            if is_transient(error):
                raise
            return self.fail(claims, "".join(traceback.format_exception_only(error)), outcome)
        self.finish(claims, results, outcome)

    def set_up(self, claims: list[Claim]) -> SetUp:
        """Specs, device, data, run info and checkpoints: every failure here is the jobs' own,
        and ends them `failed` with a message that says which step it was."""
        specs = [stored_spec(c) for c in claims]
        try:
            device = resolve_device(specs[0].device)
            data = task_data(self.settings, specs[0].data, device)
        except Exception as error:  # noqa: BLE001 - said in the jobs' error
            if is_transient(error):
                raise
            raise SetUpFailed(f"{type(error).__name__}: {error}") from None
        self.store.set_run_infos(
            self.worker,
            {c.job_id: run_info(s, data, device) for c, s in zip(claims, specs, strict=True)},
            str(device),
        )
        start = [resume_state(c, s, data.n_classes) for c, s in zip(claims, specs, strict=True)]
        for claim, state in zip(claims, start, strict=True):
            log.info(
                "job %s attempt %s: %s",
                claim.job_id,
                claim.attempt,
                f"resuming after epoch {state.epoch}" if state else "starting at epoch 1",
            )
        return SetUp(specs, data, start)

    def wait_at_rungs(
        self, claims: list[Claim], ready: SetUp, stop: StopCheck | None, outcome: Outcome
    ) -> tuple[list[Claim], SetUp]:
        """Under a synchronous rule, jobs resuming from a rung they were never promoted past
        park there instead of training on; the others train."""
        resumed = {c.job_id: s.epoch for c, s in zip(claims, ready.start, strict=True) if s}
        if stop is None or not stop.rule.synchronous or not resumed:
            return claims, ready
        recorded = self.store.park_at_rungs(self.worker, resumed, stop)
        outcome.add(recorded)
        keep = [i for i, claim in enumerate(claims) if claim.job_id not in recorded.parked]
        return [claims[i] for i in keep], SetUp(
            [ready.specs[i] for i in keep], ready.data, [ready.start[i] for i in keep]
        )

    def share_check(self, specs: list[JobSpec]) -> ShareCheck | None:
        if self.send is None:
            return None
        return ShareCheck(queue_of(specs[0]), specs[0].epochs)

    def fail(self, claims: list[Claim], error: str, outcome: Outcome) -> None:
        self.end(claims, "failed", outcome, error=error.strip())

    def finish(self, claims: list[Claim], results: list[FitResult], outcome: Outcome) -> None:
        by_outcome: dict[str, list[Claim]] = {}
        for claim, result in zip(claims, results, strict=True):
            by_outcome.setdefault(result.outcome, []).append(claim)
        # Diverged and stopped members ended when their epoch was recorded.
        self.end(by_outcome.get("succeeded", []), "succeeded", outcome)
        interrupted = by_outcome.get("interrupted", [])
        if not interrupted:
            return
        if self.store.get_sweep(interrupted[0].sweep_id).status == "cancelled":
            self.end(interrupted, "cancelled", outcome)
        else:  # shutting down, or a member was taken over: the rest go back to the queue
            self.hand_back(interrupted, outcome)

    def hand_back(self, claims: list[Claim], outcome: Outcome) -> None:
        """Jobs this worker still holds go back to the queue at no cost to their attempts."""
        outcome.handed_back += self.store.release_jobs([c.job_id for c in claims], self.worker)

    def end(
        self, claims: list[Claim], status: str, outcome: Outcome, error: str | None = None
    ) -> None:
        """End the claims' jobs together: a stack's members in one transaction."""
        if claims:
            outcome.sweeps_ended += self.store.finish_jobs(
                [c.job_id for c in claims], status, worker=self.worker, error=error
            )


def stored_spec(claim: Claim) -> JobSpec:
    try:
        return JobSpec.model_validate(claim.spec)
    except ValidationError as error:
        raise SetUpFailed(
            f"its stored params no longer validate: {describe_validation_error(error)}"
        ) from None


def resume_state(claim: Claim, spec: JobSpec, n_classes: int) -> MemberState | None:
    if claim.checkpoint is None:
        return None
    try:
        return load_checkpoint(claim.checkpoint.state, member_shapes(spec, n_classes))
    except ValueError as error:
        raise SetUpFailed(f"its stored {error} (epoch {claim.checkpoint.epoch})") from None


def stop_check(sweep: SweepInfo, spec: JobSpec) -> StopCheck | None:
    """The sweep's stopping rule for this stack, or None: no rule, or baselines (which do not
    train, so there is nothing to stop)."""
    rule = StopSpec.model_validate(sweep.grid.get("stop", {}))
    if not rule.active or spec.model == "baseline":
        return None
    return StopCheck(sweep.sweep_id, rule, spec.epochs)


class EpochRecorder:
    """The `on_epoch_end` callback: the stack's epoch, checkpoints and stopping decision in one
    store transaction (diverged and stopped members end there and leave the stack); then the
    jobs must still be ours to train (a cancelled sweep or a shutdown stops here)."""

    def __init__(
        self,
        runner: JobRunner,
        claims: list[Claim],
        outcome: Outcome,
        stop: StopCheck | None,
        share: ShareCheck | None,
    ) -> None:
        self.runner, self.claims, self.outcome = runner, claims, outcome
        self.stop, self.share = stop, share
        self.member_of = {claim.job_id: member for member, claim in enumerate(claims)}

    def __call__(self, events: list[MemberEpoch]) -> list[int]:
        runner = self.runner
        recorded = runner.store.record_epochs(
            runner.worker,
            [self.write(event) for event in events],
            lease_seconds=runner.settings.lease_seconds,
            stop=self.stop,
            share=self.share,
        )
        self.outcome.add(recorded)
        if recorded.shared:
            self.send_shared(list(recorded.shared))
        if not recorded.keep_training or runner.shutting_down():
            raise StopTraining
        # Stopped, parked and shared members leave the stack; the others train on.
        leaving = (*recorded.stopped, *recorded.parked, *recorded.shared)
        return [self.member_of[job_id] for job_id in leaving]

    def send_shared(self, job_ids: list[int]) -> None:
        """At once: an idle worker is waiting for them. A broker that cannot take the messages
        now loses nothing: the jobs are queued in the store, and the healers send them again."""
        assert self.runner.send is not None, "a stack shares only with a way to send"
        try:
            self.runner.send(self.claims[0].sweep_id, job_ids)
        except Exception:  # noqa: BLE001 - the healers' reconcile sends them again
            log.warning("could not send the shared jobs %s yet", job_ids, exc_info=True)
        else:
            log.info("shared jobs %s with idle workers", job_ids)

    def write(self, event: MemberEpoch) -> EpochWrite:
        checkpoint = None
        if event.params and not event.diverged:
            checkpoint = save_checkpoint(event.metrics.epoch, event.params)
        job_id = self.claims[event.member].job_id
        return EpochWrite(job_id, epoch_row(event.metrics), checkpoint, event.diverged)


def by_checkpoint_epoch(claims: list[Claim]) -> list[list[Claim]]:
    """Members resume together only from the same epoch (a kill between two members' writes
    can leave them one epoch apart)."""
    groups: dict[int, list[Claim]] = {}
    for claim in claims:
        groups.setdefault(claim.checkpoint.epoch if claim.checkpoint else 0, []).append(claim)
    return list(groups.values())


def is_transient(error: BaseException) -> bool:
    """Database and broker outages are retried by the task; everything else is the job's own."""
    return isinstance(error, OperationalError | InterfaceError | ConnectionError)
