"""The report as a list of blocks, written once and rendered to Markdown and to HTML."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Heading:
    text: str
    level: int = 2


@dataclass(frozen=True, slots=True)
class Paragraph:
    text: str


@dataclass(frozen=True, slots=True)
class Notice:
    """Something the reader must not miss (an unfinished sweep, a missing figure)."""

    text: str


@dataclass(frozen=True, slots=True)
class Bullets:
    items: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    # Columns holding numbers are right-aligned.
    numeric: tuple[bool, ...] = ()


@dataclass(frozen=True, slots=True)
class Image:
    file: str  # a PNG beside the report
    alt: str


@dataclass(frozen=True, slots=True)
class FileLink:
    file: str
    text: str


Block = Heading | Paragraph | Notice | Bullets | Table | Image | FileLink
