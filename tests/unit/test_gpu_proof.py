"""The GPU proof's pieces that need no processes: its dependency check and its grid.

    python -m pytest tests/unit/test_gpu_proof.py

The whole proof runs in tests/integration/test_gpu_proof.py (its CPU rehearsal).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from benchmarks.gpu_proof import Settings, grid_text, mnistgrid_requirements, unmet_requirements
from orchestrator.grid import expand, parse_grid


def fake_distribution(site: Path, name: str, version: str, *requires: str) -> None:
    info = site / f"{name}-{version}.dist-info"
    info.mkdir(parents=True)
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    lines += [f"Requires-Dist: {r}" for r in requires]
    (info / "METADATA").write_text("\n".join(lines) + "\n")


def test_the_requirements_are_mnistgrids_and_pytest_without_torch():
    names = [r.split(">")[0].split("[")[0] for r in mnistgrid_requirements()]
    assert "torch" not in names
    assert {"celery", "sqlalchemy", "pydantic", "pytest"} <= set(names)


def test_what_this_environment_has_meets_every_requirement():
    assert unmet_requirements(mnistgrid_requirements(), sys.path) == []


def test_missing_and_too_old_packages_are_found_through_dependencies_and_extras(tmp_path):
    fake_distribution(tmp_path, "top", "1.0", "middle>=2", 'extra-dep; extra == "more"')
    fake_distribution(tmp_path, "middle", "1.5")
    paths = [str(tmp_path)]
    assert unmet_requirements(["top>=1"], paths) == ["middle>=2 (found 1.5)"]
    assert unmet_requirements(["top[more]"], paths) == [
        "extra-dep (found none)",
        "middle>=2 (found 1.5)",
    ]
    assert unmet_requirements(["top>=2"], paths) == ["top>=2 (found 1.0)"]


@pytest.mark.parametrize(("device", "quick", "n_jobs"), [("cuda", False, 13), ("cpu", True, 5)])
def test_the_sweep_grid_is_valid_and_trains_on_the_proofs_device(device, quick, n_jobs):
    settings = Settings(device, quick, Path("out"), None, ())
    specs = expand(parse_grid(grid_text(settings), "gpu-proof"), limit=100)
    assert len(specs) == n_jobs
    assert {s.device for s in specs} == {device}
    assert {s.epochs for s in specs} == {settings.epochs}
