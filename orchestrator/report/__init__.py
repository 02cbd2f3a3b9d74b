"""A sweep's report: figures, report.md, a self-contained report.html and results.csv.

    mnistgrid report quick --out reports

gather.py reads the store once into frozen values; summary.py works out the numbers;
figures/ draws one PNG per module; content.py says what the report says; render.py writes it
as Markdown and HTML; results_csv.py writes one row per job; write.py runs them in that order.
"""

# Only the light part here: `submit --wait` needs the paths, and the writer imports torch and
# matplotlib (seconds). Import write_report from orchestrator.report.write, task_loader from
# orchestrator.report.confusion.
from orchestrator.report.paths import ReportPaths, report_paths

__all__ = ["ReportPaths", "report_paths"]
