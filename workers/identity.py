"""Who a worker process is, as the store records it in `jobs.worker`."""

from __future__ import annotations

import os
import secrets
import socket

_names: dict[int, str] = {}


def worker_name() -> str:
    """`host:pid:token`, unique to this process: containers on the host network share a host
    name and may reuse a pid, so the random token tells two holders apart. Host and pid stay
    for people reading `mnistgrid status`. A forked child gets its own (its pid differs)."""
    pid = os.getpid()
    if pid not in _names:
        _names[pid] = f"{socket.gethostname()}:{pid}:{secrets.token_hex(4)}"
    return _names[pid]
