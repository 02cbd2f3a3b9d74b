"""The store's clock: the database server's on PostgreSQL (workers on several machines share
it), this machine's on SQLite (one machine). Every time the store writes or compares comes
from here, so a lease written by one process is judged on the same clock by every other."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, literal, select
from sqlalchemy.orm import Session

from db.models import UTCDateTime


@dataclass(frozen=True, slots=True)
class Clock:
    postgres: bool

    def now(self) -> ColumnElement[datetime]:
        """Now, as SQL (PostgreSQL: this transaction's start)."""
        if self.postgres:
            return func.now()
        return literal(datetime.now(UTC), UTCDateTime())

    def ahead(self, seconds: float) -> Any:
        """`seconds` after now, as SQL (negative: before)."""
        if self.postgres:
            return func.now() + timedelta(seconds=seconds)
        return literal(datetime.now(UTC) + timedelta(seconds=seconds), UTCDateTime())

    def ago(self, seconds: float) -> Any:
        return self.ahead(-seconds)

    def read(self, session: Session) -> datetime:
        """Now on this clock, as a value (PostgreSQL: this transaction's start)."""
        if self.postgres:
            return session.scalar(select(func.now())).astimezone(UTC)
        return datetime.now(UTC)
