"""No fork while a thread of this process is inside the database's driver.

    with no_fork():
        store.check_in_worker(...)   # a thread beside a main thread that forks

SQLite's C library holds its mutexes (its memory allocator's among them) while a thread is in
it, with the GIL released. A process forked at that moment inherits them locked, and its first
SQLite call waits for ever: 5 children of 600 in a measurement, a thread querying while
another forks. A Celery worker is that process: its healer thread (workers/healer.py) reads
and writes the store while the pool forks a replacement for a child that died. Such a thread
holds `no_fork()` around its store work, and `os.fork` waits for it through an at-fork hook.

The hook runs before those registered earlier (the at-fork `before` hooks run last registered
first), logging's among them: the forking thread takes this lock before logging's, so a thread
that logs while it holds this lock cannot deadlock against it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager

# Reentrant: a thread holding it may itself fork (its own hook takes it once more).
_lock = threading.RLock()

os.register_at_fork(
    before=_lock.acquire,
    after_in_parent=_lock.release,
    # The child's one thread is the one that forked, which holds the lock there too.
    after_in_child=_lock.release,
)


@contextmanager
def no_fork() -> Iterator[None]:
    """Until the block ends, a fork in any thread of this process waits for it."""
    with _lock:
        yield
