"""A sweep's report: figures, report.md, a self-contained report.html and results.csv.

    mnistgrid report quick --out reports

gather.py reads the store once into frozen values; summary.py works out the numbers;
figures/ draws one PNG per module (figures/layout.py places each figure's parts); content.py
says what the report says; render.py writes it as Markdown and HTML; results_csv.py writes one
row per job; write.py runs them in that order; task.py is the Celery task a worker runs when a
sweep ends.

May import: everything below the CLI but the worker runtime and the orchestrator (it reads the
store, re-evaluates checkpoints with the core, and loads data).
"""

# Only the light part here: `submit --wait` needs the paths, and the writer imports torch and
# matplotlib (seconds). Import write_report from mnistgrid.report.write.
from mnistgrid.report.paths import ReportPaths, report_paths

__all__ = ["ReportPaths", "report_paths"]
