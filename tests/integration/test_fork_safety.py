"""A worker's healer thread works on the store while the pool forks replacement children from
the same process (workers/healer.py): a child forked while that thread is inside SQLite
inherits SQLite's mutexes locked and hangs at its first query. `no_fork()` (db/forking.py)
makes the fork wait for the thread.

    python -m pytest tests/integration/test_fork_safety.py

Measured with a bare `sqlite3` thread querying a file: 5 children of 600 forked beside it hung
for good (one of them the first, forked while the thread connected); with `no_fork()`, none.
The healer's test below, without the guard in `check_in`, failed three runs of three.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from db.forking import no_fork
from db.migrate import upgrade
from db.records import WorkerInfo
from mnistgrid.settings import Settings
from workers.healer import check_in

pytestmark = pytest.mark.integration

FORKS = 300
# How long a child may take to query and exit before it counts as hung (seconds).
PATIENCE = 10


def forked(child: Callable[[], None]) -> int:
    pid = os.fork()
    if pid == 0:
        try:
            child()
        finally:
            os._exit(0)
    return pid


def hung(pid: int, patience: float = PATIENCE) -> bool:
    """True (and the child killed) when it has not exited within `patience`."""
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        if os.waitpid(pid, os.WNOHANG)[0]:
            return False
        time.sleep(0.005)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return True


def test_a_fork_waits_for_the_thread_inside_no_fork() -> None:
    inside, leave, forks = threading.Event(), threading.Event(), []

    def hold() -> None:
        with no_fork():
            inside.set()
            leave.wait(30)

    def fork() -> None:
        forks.append(forked(lambda: None))

    holder = threading.Thread(target=hold)
    holder.start()
    assert inside.wait(30)
    forker = threading.Thread(target=fork)
    forker.start()
    forker.join(1.0)
    assert forks == []  # still waiting for the holder
    leave.set()
    forker.join(30)
    holder.join(30)
    (pid,) = forks
    assert not hung(pid)


def test_no_child_forked_while_the_healer_checks_in_hangs(tmp_path: Path) -> None:
    db = tmp_path / "mnistgrid.db"
    settings = Settings(database_url=f"sqlite:///{db}")
    upgrade(settings.database_url)
    seat = WorkerInfo("healer@host", ("cpu",), 1)
    stop = threading.Event()

    def heal() -> None:
        while not stop.wait(0.001):  # a gap, or the forks would wait on the lock's every turn
            check_in(settings, seat)

    def query() -> None:
        with sqlite3.connect(db) as connection:
            connection.execute("SELECT count(*) FROM sqlite_master").fetchall()

    healer = threading.Thread(target=heal)
    healer.start()
    try:
        hung_at = [i for i in range(FORKS) if hung(forked(query))]
    finally:
        stop.set()
        healer.join(30)
    assert hung_at == []
