"""The login: HTTP basic auth on every request when `MNISTGRID_WEB_AUTH` is set, as Flower's
`FLOWER_BASIC_AUTH`. `mnistgrid serve` refuses to listen beyond loopback without it."""

from __future__ import annotations

import base64
import binascii
import secrets

from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

REALM = "mnistgrid"


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
