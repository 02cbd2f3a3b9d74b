"""The web app: routes, the login, and errors as pages or JSON.

    uvicorn --factory mnistgrid.web.app:app_from_environment   # what `mnistgrid serve` runs

Read-only: every route answers GET (and HEAD) only, and the store is only read.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount, Route

from db.store import Store
from mnistgrid.errors import BadInput, MnistgridError, NotFound
from mnistgrid.settings import Settings, load_settings
from mnistgrid.web import api, files, pages
from mnistgrid.web.access import AllowedHosts, BasicAuth
from mnistgrid.web.context import Web, make_templates
from mnistgrid.web.encode import json_response
from mnistgrid.web.links import REPORTS_PATH


def routes() -> list[Route | Mount]:
    return [
        Route("/", pages.sweeps),
        Route("/sweeps/{ref}", pages.sweep),
        Route("/jobs/{job_id}", pages.job),
        Route("/compare", pages.compare),
        Route("/api/sweeps", api.sweeps),
        Route("/api/sweeps/{ref}", api.sweep),
        Route("/api/sweeps/{ref}/updates", api.sweep_updates),
        Route("/api/sweeps/{ref}/summary", api.sweep_summary_json),
        Route("/api/jobs/{job_id}", api.job),
        Route("/api/jobs/{job_id}/updates", api.job_updates),
        Route("/api/compare", api.compare),
        Route(files.PLOTLY_PATH, files.plotly_js),
        Route(REPORTS_PATH + "/{folder}/{name}", files.report_file),
        Mount("/static", files.static_files(), name="static"),
    ]


def make_app(settings: Settings, store: Store) -> Starlette:
    """The app over `store`; with `settings.web_auth`, every request needs that login, and
    without it only requests for loopback host names are answered (web/access.py)."""
    # Level 5: a 1.5 MB page in 25 ms to 210 kB; level 9 takes five times longer for 7% less.
    middleware = [Middleware(GZipMiddleware, minimum_size=1000, compresslevel=5)]
    if (login := settings.web_login) is not None:
        middleware.insert(0, Middleware(BasicAuth, user=login[0], password=login[1]))
    middleware.insert(0, Middleware(AllowedHosts, hosts=settings.web_allowed_hosts))
    app = Starlette(
        routes=routes(),
        middleware=middleware,
        exception_handlers={
            NotFound: error_page,
            BadInput: error_page,
            MnistgridError: error_page,
            HTTPException: error_page,
        },
    )
    templates = make_templates()
    templates.env.globals["plotly_js"] = files.PLOTLY_PATH
    app.state.web = Web(settings, store, templates)
    return app


def app_from_environment() -> Starlette:
    settings = load_settings()
    return make_app(settings, Store(settings.database_url))


def error_page(request: Request, error: Exception) -> Response:
    """A bad id is a 404 that says what was not found; JSON under /api/, a page elsewhere."""
    status, message = status_of(request, error)
    headers = getattr(error, "headers", None)  # 405 names the methods that are allowed
    if request.url.path.startswith("/api/"):
        return json_response({"error": message}, status, headers)
    templates = request.app.state.web.templates
    context = {"status": status, "message": message}
    return templates.TemplateResponse(
        request, "error.html", context, status_code=status, headers=headers
    )


def status_of(request: Request, error: Exception) -> tuple[int, str]:
    if isinstance(error, HTTPException):
        messages = {
            404: f"no page at {request.url.path}",
            405: f"this view is read-only: {request.method} is not allowed",
        }
        return error.status_code, messages.get(error.status_code, str(error.detail))
    if isinstance(error, NotFound):
        return 404, str(error)
    if isinstance(error, BadInput):
        return 400, str(error)
    # The store's own errors (database unreachable, schema behind): try again later.
    return 503, str(error)
