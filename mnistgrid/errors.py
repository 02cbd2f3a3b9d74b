"""Errors a user can act on. The CLI prints them as one line and exits with `exit_code`."""

from __future__ import annotations

from collections.abc import Callable

from pydantic import ValidationError


class MnistgridError(Exception):
    exit_code = 1


class BadInput(MnistgridError):
    """The user asked for something invalid (a grid file, an argument); nothing was written."""

    exit_code = 2


class DataError(MnistgridError):
    """A dataset file is missing, truncated or corrupt, or cannot be downloaded."""


class NotFound(BadInput):
    """A sweep or job id that does not exist."""


def describe_validation_error(
    error: ValidationError, where: str = "", key_name: Callable[[str], str] = str
) -> str:
    """Pydantic's first complaint as one line: `lr: must be a finite positive number, got nan`.
    `where` goes first (a file name); `key_name` spells the key (`--lr` on the command line)."""
    first = error.errors()[0]
    key = ".".join(str(part) for part in first["loc"])
    key = key_name(key) if key else ""
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = "unknown key"
    elif first["type"] == "too_short":
        message = "must not be empty"
    elif first["type"] == "literal_error" or first["type"].endswith("_type"):
        message = f"{message}, got {shorten(repr(first['input']))}"
    more = f" (and {len(error.errors()) - 1} more)" if len(error.errors()) > 1 else ""
    return f"{where}{key}: {message}{more}" if key else f"{where}{message}{more}"


def shorten(text: str, limit: int = 60) -> str:
    """`text`, cut to `limit` characters with `...`: a value quoted in an error stays short."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def printable(text: str, limit: int = 80) -> str:
    """Something the user typed, as an error message quotes it: control characters escaped
    (`a\\x00b`), cut short, so that the message stays one readable line."""
    return shorten(text if text.isprintable() else repr(text)[1:-1], limit)
