"""Files the app serves as they are: its own static files, plotly.js from the plotly package
(no CDN: the page works with no internet), and the sweeps' written reports."""

from __future__ import annotations

import mimetypes
from pathlib import Path

import plotly
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.staticfiles import StaticFiles

from mnistgrid.errors import NotFound, printable
from mnistgrid.web.context import web

STATIC = Path(__file__).parent / "static"
PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
# The file's address carries plotly's version, so a browser may keep it for good.
PLOTLY_PATH = f"/static/plotly-{plotly.__version__}.min.js"


def static_files() -> StaticFiles:
    return StaticFiles(directory=STATIC)


def plotly_js(request: Request) -> Response:
    return FileResponse(
        PLOTLY_JS,
        media_type="text/javascript",
        headers={"Cache-Control": "public, max-age=31536000, immutable"},
    )


def report_file(request: Request) -> Response:
    """A file of a written report: MNISTGRID_REPORTS_DIR/<folder>/<name>, nothing else."""
    folder, name = request.path_params["folder"], request.path_params["name"]
    shown = printable(f"{folder}/{name}")
    # Hidden names are the folders a report is written in before it is swapped into place,
    # and their locks (report/paths.py). A NUL, or a name too long for the file system, is
    # no file either.
    if folder.startswith(".") or name.startswith(".") or "\x00" in folder + name:
        raise NotFound(f"no report file {shown}")
    reports = web(request).settings.reports_dir.resolve()
    try:
        path = (reports / folder / name).resolve()
    except OSError:  # a name too long for the file system
        raise NotFound(f"no report file {shown}") from None
    if path.parent.parent != reports:
        raise NotFound(f"no report file {shown}")
    try:
        # Read whole, in one open: a report swapped for a newer one meanwhile is either
        # file, never the length of one and the bytes of the other (report/paths.py).
        content = path.read_bytes()
    except OSError:
        raise NotFound(f"no report file {shown}: has the sweep's report been written?") from None
    media_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return Response(content, media_type=media_type)
