"""Where a sweep's report lives: `reports_dir/<sweep name>/{report.md,report.html,results.csv}`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

MARKDOWN = "report.md"
HTML = "report.html"
CSV = "results.csv"


@dataclass(frozen=True, slots=True)
class ReportPaths:
    dir: Path
    markdown: Path
    html: Path
    csv: Path


def folder_name(sweep_name: str) -> str:
    """The sweep name as one safe path component (no separators, no leading dot)."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", sweep_name).lstrip(".")
    return safe or "sweep"


def report_paths(reports_dir: Path, sweep_name: str) -> ReportPaths:
    folder = Path(reports_dir) / folder_name(sweep_name)
    return ReportPaths(folder, folder / MARKDOWN, folder / HTML, folder / CSV)
