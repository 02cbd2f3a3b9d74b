"""`mnistgrid serve`: the read-only web view of every sweep, live, in a browser.

    mnistgrid serve                                              # http://127.0.0.1:8000
    MNISTGRID_WEB_AUTH=admin:secret mnistgrid serve --host 0.0.0.0 --port 8000

Without a login (`MNISTGRID_WEB_AUTH`) it listens on a loopback address only, and answers
requests for loopback host names only (`localhost`, 127.0.0.0/8, `[::1]`): no DNS rebinding.

Click alone here; the serving is in serve_work.py, imported when the command runs.
"""

from __future__ import annotations

import click

from mnistgrid.cli.collector import work_beside

work = work_beside(__name__)


@click.command()
@click.option(
    "--host", default=None, help="address to listen on [env MNISTGRID_WEB_HOST; 127.0.0.1]"
)
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=None,
    help="port [env MNISTGRID_WEB_PORT; 8000]",
)
@click.option("--database-url", default=None, help="[env MNISTGRID_DATABASE_URL]")
def serve(host: str | None, port: int | None, database_url: str | None) -> None:
    """Serve a live, read-only web view of the sweeps: tables, learning curves, figures."""
    work().serve(host, port, database_url)
