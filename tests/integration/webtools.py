"""The web view under test: the app on a real uvicorn server in this process, and a small
sweep written through the store the way workers write one."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn

from db.records import EpochRow
from db.store import Store
from mnistgrid.settings import Settings
from mnistgrid.spec import JobSpec
from mnistgrid.web.app import make_app
from orchestrator.plan import new_job
from tests.integration.services import free_port, wait_until


@contextmanager
def web_server(settings: Settings, store: Store) -> Iterator[str]:
    """`make_app` served over HTTP on a free loopback port; yields its base URL."""
    port = free_port()
    config = uvicorn.Config(
        make_app(settings, store), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started, 15, "the web server to start")
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)


@dataclass(frozen=True)
class Sweep:
    sweep_id: int
    name: str
    # job ids by what they are
    baseline: int
    finished: int
    running: int
    lost: int
    queued: int
    failed: int


SPECS = [
    JobSpec(model="baseline", distance="mse", epochs=1),
    JobSpec(model="linear", loss="cross_entropy", lr=1.0, epochs=3),
    JobSpec(model="linear", loss="cross_entropy", lr=0.1, epochs=3),
    JobSpec(model="mlp", loss="mnist_loss", lr=1.0, hidden=32, epochs=3),
    JobSpec(model="mlp", loss="mnist_loss", lr=0.1, hidden=32, epochs=3),
    JobSpec(model="linear", loss="softmax_mse", lr=1.0, epochs=3),
]


# The vanished worker's lease: over by the time a test looks at the sweep.
LOST_LEASE = 1.0


def epoch(n: int, acc: float) -> EpochRow:
    return EpochRow(n, 1.0 - acc, 1.1 - acc, acc, tuple(acc for _ in range(10)), 0.25)


def write_sweep(store: Store, name: str = "web <test>") -> Sweep:
    """Six jobs: a baseline and a linear job that succeeded, one running (one epoch), one
    whose worker vanished after claiming it, one queued, one failed with an error."""
    created = store.create_sweep(name, {"name": name}, "hash", [new_job(s) for s in SPECS])
    ids = [job.job_id for job in store.sweep_jobs(created.sweep_id)]
    baseline, finished, running, lost, queued, failed = ids
    store.claim_jobs([baseline, finished, failed], "w1:1", lease_seconds=60)
    # Its worker vanishes: nobody renews a lease of LOST_LEASE seconds.
    store.claim_jobs([lost], "w1:1", lease_seconds=LOST_LEASE)
    store.record_epoch(baseline, "w1:1", EpochRow(1, None, None, 0.82, (0.8,) * 10, 0.05))
    store.finish_job(baseline, "succeeded", worker="w1:1")
    for n, acc in enumerate((0.85, 0.89, 0.91), start=1):
        store.record_epoch(finished, "w1:1", epoch(n, acc))
    store.finish_job(finished, "succeeded", worker="w1:1")
    error = "RuntimeError: out of memory\ntraceback ..."
    store.finish_job(failed, "failed", worker="w1:1", error=error)
    store.claim_jobs([running], "w2:2", lease_seconds=60)
    store.record_epoch(running, "w2:2", epoch(1, 0.7))
    return Sweep(created.sweep_id, name, baseline, finished, running, lost, queued, failed)
