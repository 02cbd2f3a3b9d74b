"""The JSON endpoints: what the live pages poll, and the same data for any other client.

    curl http://127.0.0.1:8000/api/sweeps
    curl http://127.0.0.1:8000/api/sweeps/quick/updates?since=CURSOR
    curl http://127.0.0.1:8000/api/jobs/12/updates?after=3

Rows the pages show come as data and as the HTML fragment the page puts in (rendered by the
same template macro as the page itself).
"""

from __future__ import annotations

from dataclasses import asdict

from starlette.requests import Request
from starlette.responses import Response

from mnistgrid.report.gather import FAMILIES
from mnistgrid.web.compare_view import compare_page
from mnistgrid.web.context import web
from mnistgrid.web.encode import json_response
from mnistgrid.web.job_view import JobHead, epoch_line, extension, job_id_of, job_update
from mnistgrid.web.live import parse_after, parse_cursor, sweep_head, sweep_update
from mnistgrid.web.sweep_list import sweep_lines
from mnistgrid.web.sweep_view import sweep_summary, sweep_table


def sweeps(request: Request) -> Response:
    w = web(request)
    lines = sweep_lines(w.store)
    rows = w.macro("sweep_rows")(lines, FAMILIES)
    return json_response(
        {
            "sweeps": [
                {
                    **sweep_head(line.sweep),
                    "created_at": line.sweep.created_at,
                    "finished_at": line.sweep.finished_at,
                    "epochs_done": line.epochs_done,
                    "epochs_total": line.epochs_total,
                    "bests": {family: acc for family, (acc, _) in line.bests.items()},
                }
                for line in lines
            ],
            "rows_html": str(rows),
        }
    )


def sweep(request: Request) -> Response:
    """Every job of a sweep and every epoch's accuracy: what a live page starts from."""
    w = web(request)
    table = sweep_table(w.store, request.path_params["ref"], w.settings)
    return json_response(
        {
            "cursor": table.cursor.isoformat(),
            "sweep": sweep_head(table.sweep),
            "jobs": [row.as_json() for row in table.rows],
            "points": {
                job_id: [[p.epoch, p.valid_acc] for p in points]
                for job_id, points in table.points.items()
            },
        }
    )


def sweep_updates(request: Request) -> Response:
    w = web(request)
    since = parse_cursor(request.query_params.get("since"))
    update = sweep_update(w.store, request.path_params["ref"], since, w.settings)
    row_html = w.macro("job_row")
    return json_response(
        {
            **update,
            "jobs": [row.as_json() for row in update["jobs"]],
            "rows_html": {
                row.job_id: str(row_html(row, update["flower_url"])) for row in update["jobs"]
            },
        }
    )


def sweep_summary_json(request: Request) -> Response:
    w = web(request)
    sweep, summary, report = sweep_summary(w.store, request.path_params["ref"], w.settings)
    return json_response(
        {
            "report_url": report,
            "report_html": str(w.macro("report_link")(sweep, report)),
            "figures": summary.figures,
            "headline": [asdict(row) for row in summary.headline],
            "headline_html": str(w.macro("headline_rows")(summary.headline)),
            "rungs_html": str(w.macro("rung_rows")(summary.rungs)),
            "verdicts": summary.verdicts,
        }
    )


def job(request: Request) -> Response:
    w = web(request)
    job_id = job_id_of(request.path_params["job_id"])
    head, rows = job_update(w.store, job_id, 0)
    return json_response({"job": job_json(head), "epochs": [asdict(row) for row in rows]})


def job_updates(request: Request) -> Response:
    w = web(request)
    job_id = job_id_of(request.path_params["job_id"])
    after = parse_after(request.query_params.get("after"))
    head, rows = job_update(w.store, job_id, after)
    return json_response(
        {
            "job": job_json(head),
            "last": rows[-1].epoch if rows else after,
            "head_html": str(w.macro("job_head")(head)),
            "epochs_html": "".join(str(w.macro("epoch_row")(epoch_line(r))) for r in rows),
            "extension": extension(head, rows),
        }
    )


def job_json(head: JobHead) -> dict[str, object]:
    """The stored job, with the status its page shows (`lost` for a running job whose lease
    expired) beside the stored one."""
    return {**asdict(head.info), "status": head.status, "stored_status": head.info.status}


def compare(request: Request) -> Response:
    """`/api/compare?sweep=A&sweep=B...`: what the compare page shows, as data."""
    w = web(request)
    page = compare_page(w.store, request.query_params.getlist("sweep"))
    return json_response(
        {
            "sweeps": [asdict(line) for line in page.sweeps],
            "families": [asdict(line) for line in page.families],
            "figures": page.figures,
        }
    )
