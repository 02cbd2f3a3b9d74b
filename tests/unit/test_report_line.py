"""`submit --wait` and `watch` end by saying where the sweep's report is, or how to write it."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest

from db.records import SweepInfo
from mnistgrid.cli.commands.sweep_cmd import echo_report
from mnistgrid.report import report_paths
from mnistgrid.settings import Settings


@pytest.fixture
def settings(tmp_path):
    return Settings(reports_dir=tmp_path / "reports")


def finished_sweep(when: datetime) -> SweepInfo:
    return SweepInfo(1, "quick", {}, "hash", "finished", when - timedelta(minutes=5), when)


def test_a_report_written_after_the_end_is_named(settings, capsys):
    html = report_paths(settings.reports_dir, "quick").html
    html.parent.mkdir(parents=True)
    html.write_text("<html></html>")
    echo_report(settings, finished_sweep(datetime.now(UTC)), patience=0)
    assert capsys.readouterr().out == f"report: {html}\n"


@pytest.mark.parametrize("earlier_report", [False, True])
def test_no_fresh_report_says_how_to_write_it(settings, capsys, earlier_report):
    html = report_paths(settings.reports_dir, "quick").html
    if earlier_report:  # of an earlier run of the sweep, before it was resumed
        html.parent.mkdir(parents=True)
        html.write_text("<html></html>")
        an_hour_ago = (datetime.now(UTC) - timedelta(hours=1)).timestamp()
        os.utime(html, (an_hour_ago, an_hour_ago))
    echo_report(settings, finished_sweep(datetime.now(UTC)), patience=0.3)
    out = capsys.readouterr().out
    assert out.startswith("report: not in ") and "`mnistgrid report quick` writes it" in out
