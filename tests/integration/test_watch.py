"""A watch draws a sweep's bars each time it has read the jobs, and once more at the end; not
ten times a second on a timer of its own: what a waiting CLI does, it takes from the cores that
train the sweep (docs/benchmarks.md, "A wait that keeps off the training's cores").

    python -m pytest tests/integration/test_watch.py
"""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from db.store import Store
from mnistgrid.spec import JobSpec
from orchestrator.plan import new_job
from orchestrator.progress import watch

pytestmark = pytest.mark.integration

WORKER = "cpu-1@host"
# How many times the watch reads the jobs before they end.
READS = 4


def test_a_watch_draws_the_bars_when_it_reads_the_jobs_and_at_the_end(store: Store):
    specs = [JobSpec(model="linear", lr=lr) for lr in (0.1, 1.0)]
    sweep_id = store.create_sweep("watched", {}, "hash", [new_job(s) for s in specs]).sweep_id
    job_ids = [job.job_id for job in store.sweep_jobs(sweep_id)]
    store.claim_jobs(job_ids, WORKER, lease_seconds=60)
    reads: list[int] = []

    def on_poll(watched: int) -> None:  # runs each time the watch has read the jobs
        reads.append(watched)
        if len(reads) == READS:
            for job_id in job_ids:
                store.finish_job(job_id, "succeeded", worker=WORKER)

    screen = io.StringIO()
    terminal = Console(file=screen, force_terminal=True, width=120)
    assert watch(store, sweep_id, terminal, poll=0.3, on_poll=on_poll) == "finished"

    assert reads == [sweep_id] * READS
    drawn = screen.getvalue()
    # A redraw per read, one when the end was read, and rich's own as the display stops:
    # over the watch's 1.2 s, a refresh of its own ten times a second drew ten.
    assert drawn.count("jobs ended") == READS + 2
    last = drawn[drawn.rindex("sweep") :]  # the last drawing, from the sweep's own bar
    assert "2/2 jobs ended" in last and last.count("succeeded") == 2
