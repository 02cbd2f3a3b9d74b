"""A sweep's report: figures, report.md, a self-contained report.html and results.csv.

    mnistgrid report quick --out reports

gather.py reads the store once into frozen values; summary.py works out the numbers;
figures/ draws one PNG per module; content.py says what the report says; render.py writes it
as Markdown and HTML; results_csv.py writes one row per job; write.py runs them in that order.
"""

from orchestrator.report.confusion import task_loader
from orchestrator.report.paths import ReportPaths, report_paths
from orchestrator.report.write import write_report

__all__ = ["ReportPaths", "report_paths", "task_loader", "write_report"]
