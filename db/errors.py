"""Errors the store raises that a user can act on (all print as one line in the CLI)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mnistgrid.errors import MnistgridError

if TYPE_CHECKING:
    from sqlalchemy.exc import DBAPIError


class SchemaBehind(MnistgridError):
    """The database was made by an older mnistgrid: `mnistgrid db upgrade` brings it up."""

    def __init__(self, current: str | None, head: str) -> None:
        self.current = current
        self.head = head
        super().__init__(
            f"database schema is at {current or 'base'}, this mnistgrid needs {head}: "
            "run `mnistgrid db upgrade`"
        )


class SchemaAhead(MnistgridError):
    """The database was migrated by a newer mnistgrid than this one."""

    def __init__(self, current: str, head: str) -> None:
        self.current = current
        self.head = head
        super().__init__(
            f"database schema is at {current}, which this mnistgrid (schema {head}) does not "
            "know: upgrade mnistgrid"
        )


class DatabaseUnavailable(MnistgridError, ConnectionError):
    """The database could not be reached (or opened), even after retrying.

    A `ConnectionError` too, so code that treats outages as transient (a Celery task that
    retries later) recognises it.
    """


def first_line(error: DBAPIError) -> str:
    """The first line of the driver's own message: what the CLI shows of a database error."""
    lines = str(error.orig).strip().splitlines()
    return lines[0] if lines else type(error.orig).__name__
