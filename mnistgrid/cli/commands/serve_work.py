"""What `mnistgrid serve` (serve_cmd.py) does once it runs: refuse an address exposed without
a login, then serve the web view. Imported then, not with the command: SQLAlchemy and the web
stack are most of its start, and its `--help` needs neither.
"""

from __future__ import annotations

import click

from db.engine import safe_url
from mnistgrid.cli.commands.services import existing_store
from mnistgrid.errors import BadInput
from mnistgrid.settings import Settings, load_settings


def serve(host: str | None, port: int | None, database_url: str | None) -> None:
    settings = load_settings().with_overrides(
        web_host=host, web_port=port, database_url=database_url
    )
    refuse_exposure(settings)
    # Imported once the address passes: a refusal needs none of the web stack.
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
