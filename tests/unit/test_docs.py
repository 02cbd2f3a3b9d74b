"""The guide stays honest: every relative link in the README and docs/ resolves, and every
`mnistgrid` command line they show parses (click's own parsing, without running it)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest

from mnistgrid.cli import cli

REPO = Path(__file__).resolve().parents[2]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
SHELL_ENDS = {"&", "&&", "|", "||", ";", ">", ">>", "2>&1", "<"}
# A line that runs mnistgrid: maybe after VAR=value words, maybe by a path (.venv/bin/...).
RUNS_MNISTGRID = re.compile(r"^(?:[A-Z_]+=\S+\s+)*(?:\S*/)?mnistgrid(?:\s|$)")


def relative_links(page: Path) -> list[str]:
    links = [target for target in LINK.findall(page.read_text())]
    return [t for t in links if not re.match(r"^[a-z]+:", t) and not t.startswith("#")]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_relative_link_resolves(page):
    for target in relative_links(page):
        path = (page.parent / target.split("#")[0]).resolve()
        assert path.exists(), f"{page.name}: {target}"


def command_lines(page: Path) -> list[str]:
    """The `mnistgrid ...` lines of the page's shell blocks, continuations joined."""
    found = []
    for language, block in FENCE.findall(page.read_text()):
        if language not in ("sh", "console", "bash", ""):
            continue
        for line in block.replace("\\\n", " ").splitlines():
            line = line.strip().removeprefix("$ ")
            words = shlex.split(line, comments=True) if RUNS_MNISTGRID.match(line) else []
            while words and re.match(r"^[A-Z_]+=", words[0]):  # VAR=value before a command
                words.pop(0)
            if words and words[0].rsplit("/", 1)[-1] == "mnistgrid":
                found.append(words)
    return found


COMMAND_LINES = [(page.name, words) for page in PAGES for words in command_lines(page)]


def test_the_guide_shows_many_command_lines():
    assert len(COMMAND_LINES) >= 40  # a test of nothing would pass with none


@pytest.mark.parametrize(
    ("page", "words"), COMMAND_LINES, ids=[f"{p}: {' '.join(w)[:60]}" for p, w in COMMAND_LINES]
)
def test_every_command_line_shown_parses(page, words):
    args = words[1:]
    for position, word in enumerate(args):
        if word in SHELL_ENDS:
            args = args[:position]
            break
    if not args:
        return
    try:
        if args[0].startswith("-"):  # the group's own options: --help, --version
            cli.make_context("mnistgrid", list(args)).close()
            return
        command = cli.get_command(click.Context(cli), args[0])
        assert command is not None, f"{page}: no command {args[0]!r}"
        command.make_context(args[0], list(args[1:]), parent=click.Context(cli)).close()
    except click.exceptions.Exit:
        return  # --help
    except click.UsageError as error:
        raise AssertionError(f"{page}: {' '.join(words)}: {error}") from None
