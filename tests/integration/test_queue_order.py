"""The queue's order: the stack with the most training left goes first, as submitted and as
sent again, so that no long stack is taken last and trains on alone while the workers idle.

    python -m pytest tests/integration/test_queue_order.py
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import redis

from db.store import Store
from mnistgrid.queue.app import make_celery
from mnistgrid.queue.publish import send_again
from mnistgrid.routing import TRAIN_TASK
from mnistgrid.settings import Settings
from orchestrator.grid import parse_grid
from orchestrator.submit import plan_sweep, submit_grid
from tests.integration.services import private_redis_db
from tests.integration.webtools import epoch

pytestmark = pytest.mark.integration

# In the grid's order the cheapest stack comes first.
GRID = """
name = "order"
[train]
epochs = 20
[grid]
model = ["linear", "mlp"]
hidden = [16, 128]
loss = "cross_entropy"
lr = [0.1, 1.0]
"""


@pytest.fixture
def store(tmp_path: Path):
    with Store(f"sqlite:///{tmp_path / 'store.db'}") as opened:
        yield opened


def taken_in_order(broker_url: str) -> list[list[int]]:
    """The train tasks' job ids, in the order the workers will take them (kombu pushes on the
    left and a worker pops on the right)."""
    messages = redis.Redis.from_url(broker_url).lrange("cpu", 0, -1)
    headers = [json.loads(message)["headers"] for message in reversed(messages)]
    return [json.loads(h["argsrepr"])[0] for h in headers if h["task"] == TRAIN_TASK]


def test_the_stack_with_most_training_left_is_taken_first(store):
    grid = parse_grid(GRID, "order")
    with private_redis_db() as broker_url:
        app = make_celery(Settings(broker_url=broker_url))
        submitted = submit_grid(grid, plan_sweep(grid, Settings()), None, False, store, app)
        first = taken_in_order(broker_url)
        jobs = store.sweep_jobs(submitted.sweep_id)
        by_shape: dict[int, list[int]] = {}  # hidden units (0: linear) -> the stack's job ids
        for job in jobs:
            hidden = job.params["hidden"] if job.model == "mlp" else 0
            by_shape.setdefault(hidden, []).append(job.job_id)
        # The mlp 128 stack trained 18 of its 20 epochs, then its worker handed it back.
        store.claim_jobs(by_shape[128], "w:1", lease_seconds=60)
        for job_id in by_shape[128]:
            for n in range(1, 19):
                store.record_epoch(job_id, "w:1", epoch(n, 0.9))
        assert store.release_jobs(by_shape[128], "w:1") == by_shape[128]
        redis.Redis.from_url(broker_url).delete("cpu")
        send_again(store, app, submitted.sweep_id, [job.job_id for job in jobs])
        again = taken_in_order(broker_url)
    assert submitted.n_tasks == 3
    assert first == [by_shape[128], by_shape[16], by_shape[0]]
    # Per member: 128 hidden x 2 epochs left is less than 16 hidden x 20, more than linear x 20.
    assert again == [by_shape[16], by_shape[128], by_shape[0]]
