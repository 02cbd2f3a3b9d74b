"""Where reports go: one folder per sweep, never shared, whatever the sweeps are named."""

from __future__ import annotations

import pytest

from mnistgrid.report.paths import folder_name, report_paths
from mnistgrid.spec import is_sweep_name

# Names mnistgrid stored before the name rule, beside valid names they used to collide with.
OLD_AND_NEW = [
    ("a b", 1),
    ("a/b", 2),
    ("a_b", 3),
    ("a__b", 4),
    ("../a_b", 5),
    (".a_b", 6),
    ("1", 7),
    ("7", 8),
    ("", 9),
    ("sweep", 10),
    ("a b", 11),  # the same old name again, under another id (a store may not, but still)
    ("x" * 300, 12),
    ("a\x00b", 13),
]


def test_a_valid_name_is_its_own_folder():
    for name in ("quick", "seeds-2", "a.b_c-1", "x" * 200, "0a"):
        assert folder_name(name, 99) == name


def test_distinct_sweeps_get_distinct_safe_folders():
    folders = [folder_name(name, sweep_id) for name, sweep_id in OLD_AND_NEW]
    assert len(set(folders)) == len(folders), folders
    for (name, _), folder in zip(OLD_AND_NEW, folders, strict=True):
        assert "/" not in folder and "\x00" not in folder and not folder.startswith(".")
        assert len(folder.encode()) < 255
        # an old name's folder has a character no valid name has: no valid name can take it
        assert is_sweep_name(folder) == is_sweep_name(name)


@pytest.mark.parametrize(("name", "sweep_id"), OLD_AND_NEW)
def test_report_paths_are_inside_the_reports_folder(tmp_path, name, sweep_id):
    paths = report_paths(tmp_path, name, sweep_id)
    assert paths.dir.parent == tmp_path
    assert (paths.html.name, paths.markdown.name, paths.csv.name) == (
        "report.html",
        "report.md",
        "results.csv",
    )
