"""Run the jobs one task message names: claim, train, record every epoch, finish.

The store is the truth: a job another live worker holds, or one already finished, is skipped,
so a duplicate delivery is harmless; a job taken over from a dead worker resumes from its last
checkpoint.
"""

from __future__ import annotations

import logging
import os
import socket
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from sqlalchemy.exc import InterfaceError, OperationalError

from db.records import Claim, EpochRow, gave_up_error
from db.store import Store
from mnistgrid import __version__
from mnistgrid.core.checkpoint import load_checkpoint, save_checkpoint
from mnistgrid.core.learner import StopTraining, resolve_device
from mnistgrid.core.results import EpochMetrics, FitResult, MemberEpoch
from mnistgrid.core.train_data import TrainData
from mnistgrid.core.training import train_jobs
from mnistgrid.data.datasets import load_task
from mnistgrid.errors import MnistgridError
from mnistgrid.settings import Settings
from mnistgrid.spec import DataSpec, JobSpec
from workers.early_stop import EarlyStopper
from workers.lease import LeaseKeeper

log = logging.getLogger(__name__)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


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


def never() -> bool:
    return False


@dataclass
class JobRunner:
    store: Store
    settings: Settings
    worker: str
    # True once the worker is shutting down: stop at the next epoch boundary and hand back.
    shutting_down: Callable[[], bool] = never

    def run(self, job_ids: Sequence[int]) -> Outcome:
        """Train what can be claimed of `job_ids`."""
        settings = self.settings
        claims = self.store.claim_jobs(
            list(job_ids), self.worker, settings.lease_seconds, settings.max_attempts
        )
        outcome = Outcome()
        claims = [c for c in claims if not self.gave_up(c, outcome)]
        for epoch_group in by_checkpoint_epoch(claims):
            self.train(epoch_group, outcome)
        return outcome

    def gave_up(self, claim: Claim, outcome: Outcome) -> bool:
        """A job that keeps killing its worker would be redelivered forever: bound it."""
        if not claim.exhausted:
            return False
        max_attempts = self.settings.max_attempts
        self.end(
            claim,
            "failed",
            outcome,
            error=gave_up_error(claim.attempt, claim.last_worker, max_attempts),
        )
        return True

    def train(self, claims: list[Claim], outcome: Outcome) -> None:
        specs = [JobSpec.model_validate(c.spec) for c in claims]
        try:
            device = resolve_device(specs[0].device)
            data = task_data(self.settings, specs[0].data, device)
        except (MnistgridError, RuntimeError) as error:
            return self.fail(claims, f"{type(error).__name__}: {error}", outcome)
        for claim, spec in zip(claims, specs, strict=True):
            self.store.set_run_info(claim.job_id, run_info(spec, data, device), str(device))
        start = [load_checkpoint(c.checkpoint.state) if c.checkpoint else None for c in claims]
        for claim, state in zip(claims, start, strict=True):
            log.info(
                "job %s attempt %s: %s",
                claim.job_id,
                claim.attempt,
                f"resuming after epoch {state.epoch}" if state else "starting at epoch 1",
            )
        keeper = LeaseKeeper(
            self.store, [c.job_id for c in claims], self.worker, self.settings.lease_seconds / 4
        )
        try:
            with keeper:
                stopper = EarlyStopper(self.store, claims[0].sweep_id, specs[0])
                recorder = EpochRecorder(self, claims, outcome, stopper)
                results = train_jobs(specs, data, recorder, start)
        except Exception as error:  # noqa: BLE001 - a job's own error is data, stored with it
            if is_transient(error):
                raise
            error_text = "".join(traceback.format_exception_only(error)).strip()
            return self.fail(claims, error_text, outcome)
        self.finish(claims, results, outcome)

    def fail(self, claims: list[Claim], error: str, outcome: Outcome) -> None:
        for claim in claims:
            self.end(claim, "failed", outcome, error=error)

    def finish(self, claims: list[Claim], results: list[FitResult], outcome: Outcome) -> None:
        for claim, result in zip(claims, results, strict=True):
            if result.outcome in ("diverged", "stopped"):
                continue  # ended by the recorder, at the epoch it diverged or was stopped
            if result.outcome != "interrupted":
                self.end(claim, result.outcome, outcome, **self.summary(claim.job_id))
            elif self.store.get_sweep(claim.sweep_id).status == "cancelled":
                self.end(claim, "cancelled", outcome, **self.summary(claim.job_id))
            elif self.shutting_down() and self.store.release_job(claim.job_id, self.worker):
                outcome.handed_back.append(claim.job_id)
            # else: the lease went to another worker, which finishes the job

    def end(self, claim: Claim, status: str, outcome: Outcome, **details: object) -> None:
        done = self.store.finish_job(claim.job_id, status, **details)
        if done.sweep_finished and done.sweep_id is not None:
            outcome.sweeps_ended.append(done.sweep_id)

    def summary(self, job_id: int) -> dict[str, object]:
        return job_summary(self.store, job_id)


def job_summary(store: Store, job_id: int) -> dict[str, object]:
    """Final and best accuracy over every stored epoch, those before a resume included: the
    keyword arguments of `Store.finish_job`."""
    rows = [r for r in store.epochs(job_id) if r.valid_acc is not None]
    if not rows:
        return {}
    best = max(rows, key=lambda r: r.valid_acc)
    return {
        "final_acc": rows[-1].valid_acc,
        "best_acc": best.valid_acc,
        "best_epoch": best.epoch,
        "train_seconds": sum(r.seconds for r in rows),
    }


class EpochRecorder:
    """The `on_epoch_end` callback: store each member's epoch and checkpoint, end the members
    that diverged or that the sweep's stopping rule stops (they leave the stack), then check
    that the jobs are still ours to train (a cancelled sweep stops here, at the boundary)."""

    def __init__(
        self, runner: JobRunner, claims: list[Claim], outcome: Outcome, stopper: EarlyStopper
    ) -> None:
        self.runner, self.claims, self.outcome, self.stopper = runner, claims, outcome, stopper

    def __call__(self, events: list[MemberEpoch]) -> list[int]:
        still_ours = all([self.record(event) for event in events])
        if not still_ours or self.runner.shutting_down():
            raise StopTraining
        return self.stop_early(events)

    def record(self, event: MemberEpoch) -> bool:
        """Store the epoch; False when the job is no longer ours (cancelled, taken over)."""
        claim = self.claims[event.member]
        checkpoint = None
        if event.params and not event.diverged:
            checkpoint = save_checkpoint(event.metrics.epoch, event.params)
        row = epoch_row(event.metrics)
        ours = self.runner.store.record_epoch(claim.job_id, self.runner.worker, row, checkpoint)
        if event.diverged:  # ended now; the rest of the stack trains on
            self.end(claim, "diverged")
        return ours

    def stop_early(self, events: list[MemberEpoch]) -> list[int]:
        """Ask the stopping rule about the members still training; end those it stops here, in
        the store first, so a worker killed right after leaves them stopped."""
        alive = {self.claims[e.member].job_id: e.member for e in events if not e.diverged}
        stopped = self.stopper(events[0].metrics.epoch, alive) if events else set()
        for job_id in sorted(stopped):
            self.end(self.claims[alive[job_id]], "stopped")
            self.outcome.stopped.append(job_id)
        return [alive[job_id] for job_id in stopped]

    def end(self, claim: Claim, status: str) -> None:
        self.runner.end(claim, status, self.outcome, **self.runner.summary(claim.job_id))


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
