"""A report appears whole or not at all, in a folder of its own sweep: two writers at once
(the report asked again after a lease, and `mnistgrid report` by hand), a reader meanwhile, a
writer that fails, an old report replaced, and sweeps whose names once shared a folder.

    python -m pytest tests/integration/test_report_folders.py
"""

from __future__ import annotations

import csv
import html
import multiprocessing
import os
from pathlib import Path

import pytest

from db.store import Store
from mnistgrid.report import report_paths
from mnistgrid.report import write as report_write
from mnistgrid.report.write import write_report
from tests.integration.webtools import SPECS, write_sweep

pytestmark = pytest.mark.integration

FILES = {"report.html", "report.md", "results.csv"}


@pytest.fixture
def store(tmp_path: Path):
    with Store(f"sqlite:///{tmp_path / 'store.db'}") as opened:  # a new file migrates itself
        yield opened


def write_in_child(url: str, sweep_id: int, reports: Path, rounds: int) -> None:
    with Store(url) as store:
        for _ in range(rounds):
            write_report(store, sweep_id, reports)


def whole(folder: Path) -> str | None:
    """What is partial about the report folder, or None when it is whole or absent. A look
    during which the folder was swapped for another does not count: a reader that listed the
    old folder just before the swap sees it emptied as it goes (and then finds the new one)."""
    try:
        before = identity(folder)
    except FileNotFoundError:
        return None
    problem = look(folder)
    try:
        swapped = identity(folder) != before
    except FileNotFoundError:
        swapped = True
    return None if swapped else problem


def identity(folder: Path) -> tuple[int, int]:
    info = folder.stat()
    return info.st_ino, info.st_ctime_ns  # an inode number may be used again


def look(folder: Path) -> str | None:
    try:
        names = set(os.listdir(folder))
        if not names >= FILES:
            return f"{sorted(names)} lacks {sorted(FILES - names)}"
        html = (folder / "report.html").read_text(encoding="utf-8")
        with (folder / "results.csv").open(encoding="utf-8", newline="") as file:
            rows = list(csv.reader(file))
        markdown = (folder / "report.md").read_text(encoding="utf-8")
    except FileNotFoundError:
        return None  # swapped away while looking: not there is allowed
    if not html.endswith("</html>\n"):
        return f"report.html cut at {len(html)} characters"
    if len(rows) != 1 + len(SPECS):
        return f"results.csv has {len(rows)} rows"
    if not markdown.strip():
        return "report.md is empty"
    return None


def test_two_writers_at_once_and_a_reader_never_see_a_partial_report(store, tmp_path):
    sweep = write_sweep(store, "twice")
    reports = tmp_path / "reports"
    folder = report_paths(reports, sweep.name, sweep.sweep_id).dir
    context = multiprocessing.get_context("spawn")
    url = store.engine.url.render_as_string(hide_password=False)
    writers = [
        context.Process(target=write_in_child, args=(url, sweep.sweep_id, reports, 3))
        for _ in range(2)
    ]
    for writer in writers:
        writer.start()
    partial, looks = [], 0
    while any(writer.is_alive() for writer in writers):
        looks += 1
        if (problem := whole(folder)) is not None:
            partial.append(problem)
    for writer in writers:
        writer.join(60)
        assert writer.exitcode == 0
    assert partial == [], f"{len(partial)} of {looks} looks saw a partial report: {partial[0]}"
    assert whole(folder) is None and set(os.listdir(folder)) >= FILES
    leftovers = {p.name for p in reports.iterdir()} - {folder.name, f".{folder.name}.lock"}
    assert leftovers == set(), "folders aside were left behind"


def test_a_new_report_replaces_the_old_folder_whole(store, tmp_path):
    sweep = write_sweep(store, "again")
    reports = tmp_path / "reports"
    first = write_report(store, sweep.sweep_id, reports)
    (first.dir / "stale.png").write_bytes(b"left by an older mnistgrid")
    second = write_report(store, sweep.sweep_id, reports)
    assert second == first
    assert not (second.dir / "stale.png").exists()
    assert whole(second.dir) is None


def test_a_writer_that_fails_leaves_the_old_report_and_nothing_aside(store, tmp_path, monkeypatch):
    sweep = write_sweep(store, "kept")
    reports = tmp_path / "reports"
    paths = write_report(store, sweep.sweep_id, reports)
    before = paths.html.read_text()

    def disk_full(*_: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(report_write, "write_csv", disk_full)
    with pytest.raises(OSError, match="No space left"):
        write_report(store, sweep.sweep_id, reports)
    assert paths.html.read_text() == before and whole(paths.dir) is None
    assert {p.name for p in reports.iterdir()} <= {paths.dir.name, f".{paths.dir.name}.lock"}


def test_sweeps_whose_names_once_shared_a_folder_get_their_own(store, tmp_path):
    reports = tmp_path / "reports"
    written = {}
    for name in ("a b", "a/b", "a_b", "1"):  # all but a_b stored before the name rule
        sweep = write_sweep(store, name)
        written[name] = write_report(store, sweep.sweep_id, reports)
    assert len({paths.dir for paths in written.values()}) == 4
    assert written["a_b"].dir == reports / "a_b"
    for name, paths in written.items():
        assert paths.dir.parent == reports
        assert f"<title>Sweep {html.escape(name)}</title>" in paths.html.read_text()
