"""`submit --wait` and `watch` end by saying where the sweep's report is, why there is none, or
that it failed on the worker (then they exit non-zero)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from db.records import SweepInfo
from mnistgrid.cli.commands.sweep_work import echo_report
from mnistgrid.report import report_paths
from mnistgrid.settings import Settings


@pytest.fixture
def settings(tmp_path):
    return Settings(reports_dir=tmp_path / "reports")


def finished_sweep(report_status: str | None, error: str | None = None) -> SweepInfo:
    when = datetime.now(UTC)
    return SweepInfo(
        1,
        "quick",
        {},
        "hash",
        "finished",
        when - timedelta(minutes=5),
        when,
        report_status=report_status,
        report_at=when,
        report_error=error,
    )


def test_a_written_report_in_this_folder_is_named(settings, capsys):
    html = report_paths(settings.reports_dir, "quick", 1).html
    html.parent.mkdir(parents=True)
    html.write_text("<html></html>")
    assert echo_report(settings, finished_sweep("written"))
    assert capsys.readouterr().out == f"report: {html}\n"


def test_a_report_written_on_the_main_host_says_where_there_and_how_to_write_it_here(
    settings, capsys
):
    """`submit --wait` on a worker host: the report went to the main host's reports folder."""
    assert echo_report(settings, finished_sweep("written"))
    out = capsys.readouterr().out
    assert out.startswith("report: written on the main host ")
    assert "as quick/report.html in its reports folder" in out
    assert "/reports/quick/report.html in its web view" in out
    assert f"not in {settings.reports_dir / 'quick'} here" in out
    assert "`mnistgrid report quick` writes it here too" in out


def test_a_report_not_written_yet_says_how_to_write_it(settings, capsys):
    assert echo_report(settings, finished_sweep("requested"))
    assert capsys.readouterr().out.startswith("report: not written yet; `mnistgrid report quick`")


def test_a_failed_report_is_an_error_with_the_workers_reason(settings, capsys):
    error = "PermissionError: [Errno 13] Permission denied: '/app/reports/quick'"
    assert not echo_report(settings, finished_sweep("failed", error))
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"report: failed on the worker: {error}")


def test_a_sweep_named_before_the_name_rule_is_named_by_its_id(settings, capsys):
    old = replace(finished_sweep("requested"), sweep_id=7, name="1")  # `1` would be sweep 1
    assert echo_report(settings, old)
    assert "`mnistgrid report 7`" in capsys.readouterr().out
