"""`mnistgrid demo`: the whole job with no servers (SQLite, filesystem broker, local workers)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import pytest

from db.store import Store
from tests.integration.services import mnistgrid_env, run_cli

pytestmark = pytest.mark.integration

SMALL = """
name = "small"
[train]
epochs = 2
[grid]
model = ["baseline", "linear", "mlp"]
distance = "mse"
loss = ["cross_entropy", "softmax_mse"]
lr = [0.5, 1.0]
hidden = 16
"""


def test_demo_runs_a_grid_end_to_end_without_servers(tmp_path, mnist_dir):
    grid = tmp_path / "small.toml"
    grid.write_text(SMALL)
    # No broker or database settings at all: a Redis URL here would be ignored by the demo.
    env = mnistgrid_env(data_dir=str(mnist_dir), broker_url="redis://127.0.0.1:1/0")
    # As `make demo` runs it: .venv/bin/mnistgrid, with no venv on the PATH.
    env["PATH"] = "/usr/local/bin:/usr/bin:/bin"
    folder = tmp_path / "demo"
    demo = [sys.executable, "-m", "mnistgrid.cli", "demo", "--dir", str(folder), "--grid"]
    done = subprocess.run(
        [*demo, str(grid), "--workers", "2"], env=env, cwd=tmp_path, capture_output=True,
        text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr + done.stdout

    report = folder / "reports" / "small"
    assert str(report / "report.html") in done.stdout
    assert (report / "report.md").exists() and (report / "results.csv").exists()
    assert "mnistgrid status" in done.stdout  # how to query the database

    store = Store(f"sqlite:///{folder / 'mnistgrid.db'}")
    sweep = store.get_sweep("small")
    assert sweep.status == "finished" and sweep.counts["succeeded"] == 9
    epochs = store.sweep_epochs(sweep.sweep_id)
    assert sum(len(rows) for rows in epochs.values()) == 1 + 8 * 2
    assert all(j.worker for j in store.sweep_jobs(sweep.sweep_id)), "trained by worker processes"
    with sqlite3.connect(folder / "mnistgrid.db") as db:  # plain SQL works, as printed
        assert db.execute("SELECT count(*) FROM epochs").fetchone() == (17,)

    # Quiet: no Celery banner or root warning per worker, no kombu hostname warnings.
    said = done.stdout + done.stderr
    for noise in ("SecurityWarning", "superuser privileges", "No hostname was supplied", "-- ***"):
        assert noise not in said, noise
    # The lines it prints work as typed, in the same shell
    lines = done.stdout.split("query it:")[1].strip().splitlines()
    assert len(lines) == 3
    for line in lines:
        typed = subprocess.run(
            line, shell=True, env=env, cwd=tmp_path, capture_output=True, text=True
        )
        assert typed.returncode == 0, (line, typed.stderr)

    again = run_cli(env, "demo", "--dir", str(folder), "--grid", str(grid))
    assert again.returncode == 0, again.stderr
    assert len(store.list_sweeps()) == 1, "a second demo finds its finished sweep"
