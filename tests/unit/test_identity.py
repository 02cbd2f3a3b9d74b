"""A worker process's identity is its own: host and pid for people, and a token that tells two
processes apart when containers share a host name and reuse pids."""

from __future__ import annotations

import multiprocessing
import os
import re
import socket

from workers.identity import worker_name


def _name_in_child(queue) -> None:  # noqa: ANN001
    queue.put(worker_name())


def test_a_worker_name_is_host_pid_and_token_and_stays_the_same_in_its_process():
    name = worker_name()
    host, pid, token = name.rsplit(":", 2)
    assert (host, int(pid)) == (socket.gethostname(), os.getpid())
    assert re.fullmatch(r"[0-9a-f]{8}", token)
    assert worker_name() == name


def test_a_forked_child_gets_a_name_of_its_own():
    parent = worker_name()
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    children = [context.Process(target=_name_in_child, args=(queue,)) for _ in range(3)]
    for child in children:
        child.start()
    names = {queue.get(timeout=60) for _ in children}
    for child in children:
        child.join(timeout=60)
    assert len(names) == 3 and parent not in names
    assert {name.rsplit(":", 1)[1] for name in names}.isdisjoint({parent.rsplit(":", 1)[1]})
