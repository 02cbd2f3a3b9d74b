"""`mnistgrid demo`: the whole job with no servers (SQLite, filesystem broker, local workers)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from contextlib import closing, suppress
from pathlib import Path

import pytest

from db.store import Store
from tests.integration.services import mnistgrid_env, run_cli, wait_until

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


LONGER = """
name = "longer"
[train]
epochs = 8
[grid]
model = ["linear", "mlp"]
loss = "cross_entropy"
lr = [0.5, 1.0]
hidden = 16
"""


def test_a_demo_stopped_by_ctrl_c_goes_on_where_it_stopped_when_run_again(tmp_path, mnist_dir):
    grid = tmp_path / "longer.toml"
    grid.write_text(LONGER)
    env = mnistgrid_env(data_dir=str(mnist_dir))
    folder = tmp_path / "demo"
    demo = [sys.executable, "-m", "mnistgrid.cli", "demo", "--dir", str(folder), "--grid"]
    # Its own process group, as a shell gives a command: Ctrl-C reaches the demo and its workers.
    running = subprocess.Popen(
        [*demo, str(grid)], env=env, cwd=tmp_path, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        wait_until(lambda: stored_epochs(folder) >= 1, 120, "the demo's first epoch")
        os.killpg(running.pid, signal.SIGINT)
        out, err = running.communicate(timeout=60)
    finally:
        with suppress(ProcessLookupError):
            os.killpg(running.pid, signal.SIGKILL)
    assert running.returncode == 130, err
    assert f"demo stopped; what it trained is kept in {folder}" in err
    assert "Traceback" not in err
    wait_until(lambda: not group_alive(running.pid), 30, "the demo's workers to be gone")
    store = Store(f"sqlite:///{folder / 'mnistgrid.db'}")
    sweep = store.get_sweep("longer")
    assert sweep.status != "finished"
    before = epoch_stamps(folder)
    assert before, "the first epoch was stored"

    again = subprocess.run(
        [*demo, str(grid)], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert again.returncode == 0, again.stderr
    sweep = store.get_sweep("longer")
    assert sweep.status == "finished" and sweep.counts["succeeded"] == 4
    epochs = store.sweep_epochs(sweep.sweep_id)
    assert len(epochs) == 4
    assert all([row.epoch for row in rows] == list(range(1, 9)) for rows in epochs.values())
    after = epoch_stamps(folder)
    assert {key: after[key] for key in before} == before, "an epoch was trained again"


def stored_epochs(folder: Path) -> int:
    db_file = folder / "mnistgrid.db"
    if not db_file.exists():
        return 0
    try:
        with closing(sqlite3.connect(db_file)) as db:
            return db.execute("SELECT count(*) FROM epochs").fetchone()[0]
    except sqlite3.OperationalError:  # no tables yet
        return 0


def epoch_stamps(folder: Path) -> dict[tuple[int, int], str]:
    """(job, epoch) -> when it was recorded: an epoch trained again is stamped anew."""
    with closing(sqlite3.connect(folder / "mnistgrid.db")) as db:
        rows = db.execute("SELECT job_id, epoch, recorded_at FROM epochs").fetchall()
    return {(job_id, epoch): stamp for job_id, epoch, stamp in rows}


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True
