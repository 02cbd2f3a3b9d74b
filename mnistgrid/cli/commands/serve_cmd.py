"""`mnistgrid serve`: the read-only web view of every sweep, live, in a browser.

    mnistgrid serve                                              # http://127.0.0.1:8000
    MNISTGRID_WEB_AUTH=admin:secret mnistgrid serve --host 0.0.0.0 --port 8000

Without a login (`MNISTGRID_WEB_AUTH`) it listens on a loopback address only, and answers
requests for loopback host names only (`localhost`, 127.0.0.0/8, `[::1]`): no DNS rebinding.
"""

from __future__ import annotations

import click

from db.engine import safe_url
from mnistgrid.cli.commands.services import existing_store
from mnistgrid.errors import BadInput
from mnistgrid.settings import Settings, load_settings


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
    settings = load_settings().with_overrides(
        web_host=host, web_port=port, database_url=database_url
    )
    refuse_exposure(settings)
    # Imported here: `mnistgrid --help` and the other commands need none of the web stack.
    import uvicorn

    from mnistgrid.web.app import make_app

    app = make_app(settings, existing_store(settings))
    login = "login required" if settings.web_login else "no login: this machine only"
    click.echo(
        f"mnistgrid web view of {safe_url(settings.database_url)} at "
        f"{address(settings)} ({login}); Ctrl-C stops it"
    )
    uvicorn.run(
        app, host=settings.web_host, port=settings.web_port, access_log=False, log_level="info"
    )


def refuse_exposure(settings: Settings) -> None:
    if settings.exposed_without_login:
        raise BadInput(
            f"refusing to listen on {settings.web_host} without a login: set "
            "MNISTGRID_WEB_AUTH=user:password, or listen on 127.0.0.1"
        )
    if beyond := settings.hosts_beyond_loopback_without_login:
        raise BadInput(
            f"MNISTGRID_WEB_HOSTS: {beyond[0]} is beyond this machine, and without a login the "
            "web view answers loopback names only: set MNISTGRID_WEB_AUTH=user:password"
        )


def address(settings: Settings) -> str:
    host = settings.web_host
    return f"http://{f'[{host}]' if ':' in host else host}:{settings.web_port}/"
