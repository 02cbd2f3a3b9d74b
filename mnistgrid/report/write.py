"""`write_report`: gather the sweep, draw the figures, write report.md, report.html, results.csv.

    mnistgrid report quick --out reports

One pass: three store reads, then figures, text and CSV from those frozen values.
"""

from __future__ import annotations

from pathlib import Path

from db.store import Store
from mnistgrid.report.confusion import (
    Confusion,
    TaskLoader,
    best_job_confusion,
)
from mnistgrid.report.content import report_blocks, title
from mnistgrid.report.drawing import FigureInputs, draw_figures
from mnistgrid.report.gather import SweepData, gather
from mnistgrid.report.paths import ReportPaths, folder_aside, paths_in, report_paths, swap_in
from mnistgrid.report.render import to_html, to_markdown
from mnistgrid.report.results_csv import write_csv
from mnistgrid.report.summary import family_bests, loss_bests


def write_report(
    store: Store,
    sweep_id: int,
    reports_dir: Path,
    *,
    load_data: TaskLoader | None = None,
    processes: int | None = None,
) -> ReportPaths:
    """Write the sweep's report into its folder under `reports_dir` (see report/paths.py) and
    return where it went. The files are written into a folder aside, which then replaces the
    sweep's folder whole: a reader, or another writer at the same time, never sees a partial
    report, and a writer that fails leaves the old report as it was.

    `load_data` (e.g. `mnistgrid.data.datasets.task_loader(settings)`) lets the report
    recompute confusion matrices; without it that section says why there are none.
    `processes`: how many draw the figures at once (default: the usable cores; 1: this one).
    """
    data = gather(store, sweep_id)
    paths = report_paths(reports_dir, data.sweep.name, data.sweep.sweep_id)
    with folder_aside(paths.dir) as aside:
        write_files(store, data, paths_in(aside), load_data, processes)
        swap_in(aside, paths.dir)
    return paths


def write_files(
    store: Store,
    data: SweepData,
    paths: ReportPaths,
    load_data: TaskLoader | None,
    processes: int | None,
) -> None:
    bests = family_bests(data)
    by_loss = loss_bests(data)
    confusions = {
        b.family: best_job_confusion(store, b.job.job_id, b.job.spec, load_data) for b in bests
    }
    matrices = [(f, c) for f, c in confusions.items() if isinstance(c, Confusion)]
    figures = draw_figures(FigureInputs(data, bests, by_loss, matrices), paths.dir, processes)
    blocks = report_blocks(data, bests, by_loss, confusions, figures)
    paths.markdown.write_text(to_markdown(title(data), blocks), encoding="utf-8")
    paths.html.write_text(to_html(title(data), blocks, paths.dir), encoding="utf-8")
    write_csv(paths.csv, data.jobs)
