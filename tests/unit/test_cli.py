"""The command group: `--help` lists every command without importing any of them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from mnistgrid.cli import COMMANDS, cli


def run_python(probe: str) -> subprocess.CompletedProcess[str]:
    """`probe` run by a fresh interpreter: what a command does to a process of its own."""
    return subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)


@pytest.mark.parametrize("name", list(COMMANDS))
def test_the_listed_summary_is_the_commands_own(name):
    command = cli.get_command(None, name)
    assert command is not None
    assert COMMANDS[name][1] == command.get_short_help_str(limit=1000)


def test_help_lists_every_command():
    done = CliRunner().invoke(cli, ["--help"])
    assert done.exit_code == 0
    listed = [line.split()[0] for line in done.output.split("Commands:")[1].splitlines() if line]
    assert [name for name in listed if name in COMMANDS] == list(COMMANDS)


def test_help_imports_no_command():
    done = run_python(
        "import sys\n"
        "from mnistgrid.cli import main\n"
        "sys.argv = ['mnistgrid', '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in sys.modules\n"
        "         if m.startswith('mnistgrid.cli.commands.') or m == 'torch']\n"
        "print('LOADED', heavy)\n"
    )
    assert "LOADED []" in done.stdout, done.stdout + done.stderr


# The libraries that are most of a command's start (issue 21: the CLI starts in under 0.5 s).
START_LIBRARIES = ("sqlalchemy", "celery", "kombu", "rich", "torch", "matplotlib", "pandas")


def every_command() -> list[list[str]]:
    """Each command's argv, and each subcommand's of a group (`db upgrade`, `data info`)."""
    found = []
    for name in COMMANDS:
        found.append([name])
        command = cli.get_command(None, name)
        if isinstance(command, click.Group):
            found += [[name, sub] for sub in command.list_commands(None)]
    return found


@pytest.mark.parametrize("argv", every_command(), ids=" ".join)
def test_a_commands_help_imports_none_of_its_work(argv):
    done = run_python(
        "import sys\n"
        "from mnistgrid.cli import main\n"
        f"sys.argv = ['mnistgrid', *{argv!r}, '--help']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        f"heavy = sorted({{m.split('.')[0] for m in sys.modules}} & set({START_LIBRARIES!r}))\n"
        "print('LOADED', heavy)\n"
    )
    assert "Usage: mnistgrid" in done.stdout and "LOADED []" in done.stdout, done.stdout


def test_each_commands_work_is_the_module_beside_it_and_leaves_the_collector_on():
    modules = sorted({where.split(":")[0] for where, _ in COMMANDS.values()})
    done = run_python(
        "import gc, importlib\n"
        f"for name in {modules!r}:\n"
        "    work = importlib.import_module('mnistgrid.cli.commands.' + name).work()\n"
        "    print(work.__name__.split('.')[-1], gc.isenabled())\n"
    )
    beside = [f"{name.removesuffix('_cmd')}_work True" for name in modules]
    assert done.stdout.splitlines() == beside, done.stdout + done.stderr


def test_only_a_commands_module_has_work_beside_it():
    from mnistgrid.cli.collector import work_beside

    with pytest.raises(ValueError, match="not a command's module"):
        work_beside("mnistgrid.cli.commands.sweep_work")


def test_the_export_help_names_the_formats_it_writes():
    done = CliRunner().invoke(cli, ["export", "--help"])
    assert done.exit_code == 0
    assert "csv | jsonl | parquet" in " ".join(done.output.split())


def test_a_command_runs_with_the_collector_on_once_main_has_imported_it():
    """`main` pauses the collector for the imports only: a long command (a worker, `serve`)
    must not run for hours without it."""
    done = run_python(
        "import gc, sys\n"
        "from mnistgrid.cli import main\n"
        "from mnistgrid.cli.commands import sweep_cmd\n"
        "sweep_cmd.sweeps.callback = lambda **_: print('COLLECTING', gc.isenabled())\n"
        "sys.argv = ['mnistgrid', 'sweeps']\n"
        "main()\n"
    )
    assert "COLLECTING True" in done.stdout, done.stdout + done.stderr


def test_the_demos_default_grid_is_the_repositorys_quick_example():
    from mnistgrid.cli.commands.demo_cmd import QUICK_GRID

    repo = Path(__file__).resolve().parents[2]
    assert repo / "examples" / "quick.toml" == QUICK_GRID and QUICK_GRID.is_file()
