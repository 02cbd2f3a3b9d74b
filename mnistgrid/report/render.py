"""Blocks to text: Markdown that links the PNGs beside it, and one self-contained HTML file.

The HTML carries its images as base64 data URIs and its CSS inline: it opens from disk, mailed
or copied anywhere, with no server and no request to anything outside the file.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

from mnistgrid.report.document import (
    Block,
    Bullets,
    FileLink,
    Heading,
    Image,
    Notice,
    Paragraph,
    Table,
)

CSS = """
body { font: 15px/1.5 -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
       color: #222; max-width: 1180px; margin: 2em auto; padding: 0 1.5em; }
h1 { font-size: 1.7em; margin-bottom: 0.2em; }
h2 { font-size: 1.3em; margin-top: 2em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
h3 { font-size: 1.1em; margin-top: 1.4em; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 13px; }
th, td { border: 1px solid #ddd; padding: 4px 9px; vertical-align: top; }
th { background: #f4f4f4; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr:nth-child(even) td { background: #fafafa; }
.notice { background: #fff4e5; border-left: 4px solid #f0a020; padding: 0.6em 1em;
          margin: 1em 0; }
img { max-width: 100%; height: auto; display: block; margin: 0.8em 0; }
code { background: #f4f4f4; padding: 0 0.25em; }
"""


def to_markdown(title: str, blocks: list[Block]) -> str:
    lines = [f"# {title}", ""]
    for block in blocks:
        lines += _markdown_block(block) + [""]
    return "\n".join(lines)


def _markdown_block(block: Block) -> list[str]:
    match block:
        case Heading(text, level):
            return [f"{'#' * level} {text}"]
        case Paragraph(text):
            return [text]
        case Notice(text):
            return [f"> **Note:** {text}"]
        case Bullets(items):
            return [f"- {item}" for item in items]
        case Table(header, rows, _):
            return [_md_row(header), _md_row(tuple("---" for _ in header))] + [
                _md_row(row) for row in rows
            ]
        case Image(file, alt):
            return [f"![{alt}]({file})"]
        case FileLink(file, text):
            return [f"[{text}]({file})"]
    raise TypeError(f"unknown block {block!r}")


def _md_row(cells: tuple[str, ...]) -> str:
    cleaned = (c.replace("|", "\\|").replace("\n", "<br>") for c in cells)
    return "| " + " | ".join(cleaned) + " |"


def to_html(title: str, blocks: list[Block], folder: Path) -> str:
    body = "\n".join(_html_block(block, folder) for block in blocks)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        f"<h1>{html.escape(title)}</h1>\n{body}\n</body>\n</html>\n"
    )


def _html_block(block: Block, folder: Path) -> str:
    match block:
        case Heading(text, level):
            return f"<h{level}>{_text(text)}</h{level}>"
        case Paragraph(text):
            return f"<p>{_text(text)}</p>"
        case Notice(text):
            return f'<div class="notice"><strong>Note:</strong> {_text(text)}</div>'
        case Bullets(items):
            return "<ul>" + "".join(f"<li>{_text(item)}</li>" for item in items) + "</ul>"
        case Table(header, rows, numeric):
            return _html_table(header, rows, numeric)
        case Image(file, alt):
            data = base64.b64encode((folder / file).read_bytes()).decode("ascii")
            return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'
        case FileLink(file, text):
            # A sibling file, not a web address: the report folder travels as one.
            return f"<p>{_text(text)}: <code>{html.escape(file)}</code> (beside this file)</p>"
    raise TypeError(f"unknown block {block!r}")


def _html_table(
    header: tuple[str, ...], rows: tuple[tuple[str, ...], ...], numeric: tuple[bool, ...]
) -> str:
    def cell(i: int, value: str) -> str:
        right = i < len(numeric) and numeric[i]
        return f'<td class="num">{_text(value)}</td>' if right else f"<td>{_text(value)}</td>"

    head = "".join(f"<th>{_text(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(cell(i, v) for i, v in enumerate(row)) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _text(text: str) -> str:
    """Escaped, with `code` spans and **bold** kept from the Markdown the blocks are written in."""
    escaped = html.escape(text).replace("\n", "<br>")
    parts = escaped.split("`")
    for i in range(1, len(parts), 2):
        parts[i] = f"<code>{parts[i]}</code>" if i < len(parts) - 1 else "`" + parts[i]
    joined = "".join(parts)
    bold = joined.split("**")
    for i in range(1, len(bold), 2):
        bold[i] = f"<strong>{bold[i]}</strong>" if i < len(bold) - 1 else "**" + bold[i]
    return "".join(bold)
