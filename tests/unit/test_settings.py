"""Settings: one prefix, every variable documented, bad values refused in one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from mnistgrid.settings import Settings

README = (Path(__file__).parents[2] / "README.md").read_text()


def test_every_setting_is_documented_in_the_readme():
    for name in Settings.model_fields:
        assert f"`MNISTGRID_{name.upper()}`" in README, name


def test_settings_survive_the_trip_to_a_child_process_environment(monkeypatch):
    settings = Settings().with_overrides(database_url="sqlite:////tmp/x.db", lease_seconds=5.0)
    for key, value in settings.as_environment().items():
        monkeypatch.setenv(key, value)
    assert Settings() == settings


def test_a_bad_variable_is_one_line_naming_it():
    done = subprocess.run(
        [sys.executable, "-m", "mnistgrid.cli", "sweeps"],
        env={"MNISTGRID_LEASE_SECONDS": "soon", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "error: environment: MNISTGRID_LEASE_SECONDS: Input should be a valid number, "
        "unable to parse string as a number"
    )
