"""The wheels the project's image installs, downloaded once on the host and served to
`docker build` from 127.0.0.1, so the image builds with no index reachable from the build.

    python -m pytest -m compose tests/compose

The host's pip fetches them (it reaches the package registry, or a local wheel folder) into a
cache folder named by a hash of what is asked, so a second run downloads nothing. The build
then runs with PIP_NO_INDEX=1 and PIP_FIND_LINKS set to the served folder: the offline route
docs/stack.md ("Build offline or behind a proxy") documents for users.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import os
import re
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# The image's Python: the wheels must fit it, whatever Python runs the tests.
IMAGE_PYTHON = "3.11"
DONE_MARK = ".complete"


def image_requirements() -> list[str]:
    """What `docker build` installs: the Dockerfile's torch, the project's dependencies and
    its build backend (an editable install builds in isolation)."""
    dockerfile = (REPO / "Dockerfile").read_text()
    torch = re.search(r"^ARG TORCH_SPEC=(\S+)", dockerfile, re.MULTILINE)
    assert torch, "the Dockerfile declares ARG TORCH_SPEC=..."
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    backend = project["build-system"]["requires"]
    # pip evaluates markers for the host's Python, not the image's: redis needs async-timeout
    # below Python 3.11.3 (the stand-in image has 3.11.2), which a newer host would skip.
    return [torch[1], *project["project"]["dependencies"], *backend, "wheel", "async-timeout"]


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "mnistgrid" / "compose"


def wheelhouse(requirements: list[str]) -> Path:
    """A folder holding every wheel `requirements` needs, downloaded unless cached."""
    key = hashlib.sha256("\n".join([IMAGE_PYTHON, *requirements]).encode()).hexdigest()[:16]
    folder = cache_root() / f"wheels-{key}"
    if (folder / DONE_MARK).exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "pip", "download", "--quiet", "--dest", str(folder)]
    argv += ["--only-binary=:all:", "--python-version", IMAGE_PYTHON, *requirements]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=1200)
    if done.returncode != 0:
        raise RuntimeError(f"pip download for the image failed:\n{done.stderr[-3000:]}")
    (folder / DONE_MARK).touch()
    return folder


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base's name
        pass


@contextmanager
def served(folder: Path) -> Iterator[str]:
    """`folder` on a free 127.0.0.1 port; yields its URL (a page of links pip can read)."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
