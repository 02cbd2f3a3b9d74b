"""Where a sweep's report lives: `reports_dir/<folder>/{report.md,report.html,results.csv}`,
one folder per sweep, written aside and renamed into place (`swap_in`).

The folder of a sweep whose name follows the name rule (mnistgrid/spec.py) is its name. A name
stored before the rule (`a b`, `a/b`, `1`) gets its safe spelling and `@<sweep id>`: no valid
name holds an `@`, and no two sweeps share an id, so no two sweeps share a folder.
"""

from __future__ import annotations

import fcntl
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from mnistgrid.spec import is_sweep_name

MARKDOWN = "report.md"
HTML = "report.html"
CSV = "results.csv"


@dataclass(frozen=True, slots=True)
class ReportPaths:
    dir: Path
    markdown: Path
    html: Path
    csv: Path


def folder_name(sweep_name: str, sweep_id: int) -> str:
    """The sweep's folder: its name, or for an old name that breaks the rule, `<safe>@<id>`
    (one path component: no separator, no leading dot, well under 255 bytes)."""
    if is_sweep_name(sweep_name):
        return sweep_name
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", sweep_name).lstrip(".")[:100]
    return f"{safe or 'sweep'}@{sweep_id}"


def report_paths(reports_dir: Path, sweep_name: str, sweep_id: int) -> ReportPaths:
    return paths_in(Path(reports_dir) / folder_name(sweep_name, sweep_id))


def paths_in(folder: Path) -> ReportPaths:
    return ReportPaths(folder, folder / MARKDOWN, folder / HTML, folder / CSV)


@contextmanager
def folder_aside(final: Path) -> Iterator[Path]:
    """A new, empty folder beside `final` to write a report into, hidden (a leading dot: the
    web view serves no such folder) and removed again if the block fails."""
    final.parent.mkdir(parents=True, exist_ok=True)
    aside = final.parent / f".{final.name}.{secrets.token_hex(6)}.new"
    aside.mkdir()  # not mkdtemp: the report keeps the umask's permissions, as before
    try:
        yield aside
    except BaseException:
        shutil.rmtree(aside, ignore_errors=True)
        raise


def swap_in(aside: Path, final: Path) -> None:
    """Put the finished folder `aside` at `final`, replacing whatever report was there: a
    reader finds the old report whole, then for an instant none, then the new one whole.
    Writers swap one at a time (an exclusive lock on `.<folder>.lock`): two renames of two
    writers interleaved would fail, or leave a folder inside the other's."""
    lock_file = final.parent / f".{final.name}.lock"
    old = final.parent / f".{final.name}.{secrets.token_hex(6)}.old"
    with lock_file.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            os.rename(final, old)
        except FileNotFoundError:
            old = None
        try:
            os.rename(aside, final)
        except OSError:
            if old is not None:
                os.rename(old, final)  # the old report stays
            raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
