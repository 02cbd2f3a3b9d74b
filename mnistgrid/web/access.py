"""Who may read the web view: the host names it answers, and the login.

The login is HTTP basic auth on every request when `MNISTGRID_WEB_AUTH` is set, as Flower's
`FLOWER_BASIC_AUTH`; `mnistgrid serve` refuses to listen beyond loopback without it. Without
it, the view also answers only requests whose Host header is a loopback name: a page on
another site whose name is rebound to 127.0.0.1 (DNS rebinding) is sent that site's name, and
reads nothing. With a login, the names of `MNISTGRID_WEB_HOSTS` (default `*`) are answered too.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets

from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from mnistgrid.errors import printable
from mnistgrid.settings import is_loopback

REALM = "mnistgrid"
HOST_NAME = re.compile(r"[a-z0-9_.-]+")


class AllowedHosts:
    """ASGI middleware: a request whose Host header names a host this view does not answer
    gets 400 and one line. `hosts`: names besides the loopback ones (`*`, `*.domain`); None:
    loopback names only."""

    def __init__(self, app: ASGIApp, hosts: tuple[str, ...] | None) -> None:
        self.app, self.hosts = app, hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            raw = header(scope, b"host")
            if not host_allowed(host_of(raw), self.hosts):
                response = PlainTextResponse(self.refusal(raw), status_code=400)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def refusal(self, raw: bytes | None) -> str:
        given = repr(printable(raw.decode("latin-1"))) if raw is not None else "no Host header"
        why = (
            "without a login, only localhost, 127.0.0.0/8 and [::1]"
            if self.hosts is None
            else f"loopback names and MNISTGRID_WEB_HOSTS ({','.join(self.hosts)}) only"
        )
        return f"refused: {given} is not a host this web view answers: {why}\n"


def host_of(raw: bytes | None) -> str | None:
    """The host of a Host header, lowercased, without its port (or a final dot); an IPv6
    address without its brackets. None when it is missing or malformed."""
    try:
        text = (raw or b"").decode("ascii").strip().lower()
    except UnicodeDecodeError:
        return None
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        port_ok = not rest or (rest.startswith(":") and rest[1:].isdigit())
        return host if bracket and host and port_ok and ":" in host else None
    host, colon, port = text.partition(":")
    host = host.removesuffix(".")
    if (colon and not port.isdigit()) or not HOST_NAME.fullmatch(host):
        return None
    return host


def host_allowed(host: str | None, hosts: tuple[str, ...] | None) -> bool:
    """Loopback names always; with `hosts`, also a name equal to one, below a `*.domain` one,
    or any for `*`."""
    if host is None:
        return False
    if is_loopback(host):
        return True
    return hosts is not None and any(
        pattern in ("*", host) or (pattern.startswith("*.") and host.endswith(pattern[1:]))
        for pattern in hosts
    )


class BasicAuth:
    """ASGI middleware: a request without the right user and password gets 401."""

    def __init__(self, app: ASGIApp, user: str, password: str) -> None:
        self.app = app
        self.user, self.password = user.encode(), password.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self.allows(header(scope, b"authorization")):
            response = PlainTextResponse(
                "login required",
                status_code=401,
                headers={"WWW-Authenticate": f'Basic realm="{REALM}", charset="UTF-8"'},
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def allows(self, authorization: bytes | None) -> bool:
        given = credentials(authorization)
        if given is None:
            return False
        # Both compared in constant time, and both always: the time says nothing about which
        # one, or how much of it, was right.
        user_ok = secrets.compare_digest(given[0], self.user)
        password_ok = secrets.compare_digest(given[1], self.password)
        return user_ok & password_ok


def header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return value
    return None


def credentials(authorization: bytes | None) -> tuple[bytes, bytes] | None:
    """(user, password) from `Basic base64(user:password)`, or None."""
    if authorization is None:
        return None
    scheme, _, encoded = authorization.partition(b" ")
    if scheme.lower() != b"basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    user, colon, password = decoded.partition(b":")
    return (user, password) if colon else None
