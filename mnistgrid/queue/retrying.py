"""How a task meets a database or broker outage: it pauses, then sends itself again at once,
with no ETA on the new message.

    @app.task(base=RetryAtOnce, autoretry_for=TRANSIENT)   # workers/tasks.py, report/task.py

Celery's own backoff (`retry_backoff`) sends the retry with a countdown, which becomes an ETA,
and a worker that receives a message with an ETA raises its prefetch limit by one, to take
another task while it holds this one (celery/worker/strategy.py; celery#3640, #6500): with
`worker_prefetch_multiplier = 1` and late acks it then holds two tasks, and runs the second
only after the first while other workers sit idle. So the pause happens here, in the failing
task, and the message it sends carries none.
"""

from __future__ import annotations

import random
import time
from typing import Any

from celery import Task
from kombu.exceptions import OperationalError as BrokerError
from sqlalchemy.exc import InterfaceError, OperationalError

from db.errors import DatabaseUnavailable

# The database or the broker could not be reached: worth another try, on any worker.
TRANSIENT = (OperationalError, InterfaceError, BrokerError, DatabaseUnavailable)
FIRST_PAUSE_SECONDS = 2.0
LONGEST_PAUSE_SECONDS = 60.0


def pause_before(retries: int) -> float:
    """Seconds to wait before the retry that follows `retries` earlier ones: 2, 4, 8 ... up to
    a minute, each jittered down to half so that workers hit by one outage spread out."""
    longest = min(LONGEST_PAUSE_SECONDS, FIRST_PAUSE_SECONDS * 2**retries)
    return random.uniform(longest / 2, longest)


class RetryAtOnce(Task):
    """A task whose retries wait in the task and are sent with no countdown (no ETA)."""

    max_retries = 8
    retry_backoff = False
    retry_kwargs = {"countdown": 0}  # noqa: RUF012 - Celery reads it as a class attribute

    def retry(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("countdown") == 0 and kwargs.get("eta") is None:
            time.sleep(pause_before(self.request.retries))
        return super().retry(*args, **kwargs)
