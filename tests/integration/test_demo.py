"""`mnistgrid demo`: the whole job with no servers (SQLite, filesystem broker, local workers)."""

from __future__ import annotations

import sqlite3

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
    folder = tmp_path / "demo"
    done = run_cli(env, "demo", "--dir", str(folder), "--grid", str(grid), "--workers", "2")
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

    again = run_cli(env, "demo", "--dir", str(folder), "--grid", str(grid))
    assert again.returncode == 0, again.stderr
    assert len(store.list_sweeps()) == 1, "a second demo finds its finished sweep"
