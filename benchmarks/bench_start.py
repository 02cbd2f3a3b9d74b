"""The CLI's start: `mnistgrid COMMAND --help` in fresh interpreters, against the libraries' floor.

    python benchmarks/bench_start.py
    git worktree add --detach ../wt-before HEAD~1
    python benchmarks/bench_start.py --against ../wt-before

Each run is a new `python -m mnistgrid.cli COMMAND --help` process: it imports what the command
imports and answers, which is a command's start before its own work. Beside it, in the same
run and alternately (the machine's noise falls on every way): the interpreter alone, and the
libraries that `submit` needs (SQLAlchemy's ORM, Celery, pydantic) imported with nothing of
mnistgrid, the floor under anything mnistgrid does; with `--against`, another checkout's
command (a worktree of an earlier commit) for a before and after.

Results: docs/benchmarks.md, section "A sweep end to end". No test asserts a time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
# With the collector paused and frozen as `mnistgrid` does it (mnistgrid/cli/__init__.py).
LIBRARIES = (
    "import gc; gc.disable(); import sqlalchemy.orm, celery.app, pydantic, pydantic_settings; "
    "gc.freeze()"
)


def timed(argv: list[str], tree: Path) -> float:
    # The tree first on the path (and as the working folder, which `-m` puts first): an
    # editable install of this checkout would otherwise answer for the other tree.
    env = os.environ | {"PYTHONPATH": str(tree)}
    tick = time.perf_counter()
    subprocess.run(argv, cwd=tree, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - tick


def ways(command: str, against: Path | None) -> dict[str, tuple[list[str], Path]]:
    cli = [sys.executable, "-m", "mnistgrid.cli", *command.split(), "--help"]
    found = {
        "python -c pass": ([sys.executable, "-c", "pass"], HERE),
        "libraries alone": ([sys.executable, "-c", LIBRARIES], HERE),
        "this tree": (cli, HERE),
    }
    if against is not None:
        found[f"{against.name}"] = (cli, against.resolve())
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--command", default="submit", help="the subcommand to start")
    parser.add_argument("--against", type=Path, help="another checkout to compare with")
    parser.add_argument("--repeat", type=int, default=15, help="runs of each way")
    args = parser.parse_args()
    runs = ways(args.command, args.against)
    times: dict[str, list[float]] = {name: [] for name in runs}
    for argv, tree in runs.values():  # a first, untimed run writes bytecode caches
        timed(argv, tree)
    for _ in range(args.repeat):
        for name, (argv, tree) in runs.items():
            times[name].append(timed(argv, tree))
    reference = statistics.median(times["this tree"])
    print(f"the start of `mnistgrid {args.command} --help`, {args.repeat} runs each, alternately")
    print(f"{'way':<20} {'median s':>9} {'best s':>7} {'/ this tree':>12}")
    for name, seconds in times.items():
        median = statistics.median(seconds)
        print(f"{name:<20} {median:>9.3f} {min(seconds):>7.3f} {median / reference:>12.2f}")


if __name__ == "__main__":
    main()
