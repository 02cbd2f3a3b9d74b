"""The HTML pages: every sweep, one sweep live, one job live, sweeps compared. Each renders
from a template with its figures and its state as JSON; static/*.js draws and polls."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from mnistgrid.report.gather import FAMILIES
from mnistgrid.web.compare_view import compare_page
from mnistgrid.web.context import web
from mnistgrid.web.encode import script_json
from mnistgrid.web.job_view import job_id_of, job_page
from mnistgrid.web.live import sweep_head
from mnistgrid.web.sweep_list import sweep_lines
from mnistgrid.web.sweep_view import sweep_page

# How often a live page asks for what changed.
POLL_SECONDS = 2.0


def sweeps(request: Request) -> Response:
    w = web(request)
    context = {"lines": sweep_lines(w.store), "families": FAMILIES, "poll": POLL_SECONDS * 2}
    return w.templates.TemplateResponse(request, "sweeps.html", context)


def sweep(request: Request) -> Response:
    w = web(request)
    page = sweep_page(w.store, request.path_params["ref"], w.settings)
    base = f"/api/sweeps/{page.sweep.sweep_id}"
    state = {
        "sweep": sweep_head(page.sweep),
        "cursor": page.cursor.isoformat(),
        "updates": f"{base}/updates",
        "summary": f"{base}/summary",
        "curve_jobs": page.curve_jobs,
        "poll": POLL_SECONDS,
    }
    figures = {name: fig for name, fig in page.summary.figures.items() if name != "curves_layout"}
    context = {
        "page": page,
        "families": FAMILIES,
        "state_json": script_json(state),
        "figures_json": script_json({**figures, "curves": page.curves}),
    }
    return w.templates.TemplateResponse(request, "sweep.html", context)


def job(request: Request) -> Response:
    w = web(request)
    page = job_page(w.store, job_id_of(request.path_params["job_id"]), w.settings)
    state = {
        "updates": f"/api/jobs/{page.head.info.job_id}/updates",
        "last": page.lines[-1].epoch if page.lines else 0,
        "poll": POLL_SECONDS,
    }
    context = {
        "page": page,
        "state_json": script_json(state),
        "figures_json": script_json(page.figures),
    }
    return w.templates.TemplateResponse(request, "job.html", context)


def compare(request: Request) -> Response:
    """`/compare?sweep=A&sweep=B...`: the sweeps the list's ticks named, side by side."""
    w = web(request)
    page = compare_page(w.store, request.query_params.getlist("sweep"))
    context = {"page": page, "figures_json": script_json(page.figures)}
    return w.templates.TemplateResponse(request, "compare.html", context)
