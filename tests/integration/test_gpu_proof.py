"""The GPU proof's CPU rehearsal, so that the script a GPU session runs cannot rot unseen.

    python -m pytest tests/integration/test_gpu_proof.py

It spawns what the proof spawns on a GPU machine (pytest, `mnistgrid worker`, `mnistgrid
submit --wait`, bench_core.py), with the CPU in place of the GPU and short settings.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.integration.services import mnistgrid_env

pytestmark = pytest.mark.integration

STEPS = ["machine", "dependencies", "tests", "sweep", "bench", "compile"]


def run_proof(out: Path, mnist_dir: Path, *options: str) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "benchmarks.gpu_proof", "--out", str(out), *options]
    env = mnistgrid_env(data_dir=str(mnist_dir))
    env.pop("OUT", None)
    return subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def verdicts(table: str) -> dict[str, str]:
    rows = [line.split("|") for line in table.splitlines() if line.startswith("| ")]
    return {cells[1].strip(): cells[2].strip() for cells in rows[2:]}


def test_the_cpu_rehearsal_passes_every_step_and_prints_its_table_last(tmp_path, mnist_dir):
    done = run_proof(tmp_path, mnist_dir, "--device", "cpu", "--quick")
    assert done.returncode == 0, done.stdout + done.stderr
    table = (tmp_path / "gpu_proof_table.md").read_text()
    assert verdicts(table) == dict.fromkeys(STEPS, "PASS")
    assert done.stdout.endswith(table)
    assert "every one stored from cpu" in table
    assert "all installed already" in table  # a developer's .venv needs no wheels
    assert "fused x4" in table  # the bench's rows
    assert "compiled against eager: linear x4" in table
    log = (tmp_path / "gpu_proof.log").read_text()
    assert "mnistgrid.cli worker --queues cpu" in log
    assert "Warm shutdown" in log  # the worker stopped on SIGTERM


def test_without_a_gpu_the_cuda_proof_fails_its_gpu_steps_but_runs_them_all(tmp_path, mnist_dir):
    done = run_proof(tmp_path, mnist_dir, "--device", "cuda", "--only", "tests")
    assert done.returncode == 1
    table = (tmp_path / "gpu_proof_table.md").read_text()
    assert verdicts(table) == {"machine": "FAILED", "dependencies": "PASS", "tests": "FAILED"}
    assert "sees no CUDA device" in table
    assert "result: FAILED: machine, tests (1 of 3)" in table
    assert "--- last lines of tests:" in done.stdout  # why, for one who sees only the console
