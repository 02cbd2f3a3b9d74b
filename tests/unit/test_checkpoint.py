"""Checkpoints hold tensors and nothing else: bytes that would run code, or hold other shapes,
are refused; and no torch old enough to run pickled code through `weights_only` is allowed."""

from __future__ import annotations

import io
import os
import tomllib
from pathlib import Path

import pytest
import torch
from packaging.requirements import Requirement
from packaging.version import Version

from mnistgrid.core.checkpoint import BadCheckpoint, load_checkpoint, save_checkpoint
from mnistgrid.core.models import init_member, member_shapes
from mnistgrid.spec import JobSpec

REPO = Path(__file__).resolve().parents[2]
# CVE-2025-32434 (weights_only ran code below 2.6), CVE-2026-24747 (a memory corruption in it,
# fixed in 2.10).
SAFE_TORCH = Version("2.10")
SPEC = JobSpec(model="mlp", hidden=8)


class RunsCode:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: ANN204
        return (os.system, (f"touch {self.marker}",))


def saved(payload: object) -> bytes:
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


def test_a_checkpoint_round_trips():
    params = init_member(SPEC, 10)
    state = load_checkpoint(save_checkpoint(3, params), member_shapes(SPEC, 10))
    assert state.epoch == 3
    assert all(torch.equal(a, b) for a, b in zip(state.params, params, strict=True))


def test_a_checkpoint_that_would_run_code_is_refused(tmp_path):
    marker = tmp_path / "ran"
    hostile = saved({"epoch": 1, "params": [RunsCode(marker)]})
    with pytest.raises(BadCheckpoint, match="checkpoint does not decode: UnpicklingError"):
        load_checkpoint(hostile, member_shapes(SPEC, 10))
    assert not marker.exists()


@pytest.mark.parametrize(
    "payload",
    [
        {"epoch": 1, "params": [torch.zeros(3)]},
        {"epoch": 0, "params": init_member(SPEC, 10)},
        {"epoch": "1", "params": init_member(SPEC, 10)},
        {"epoch": 1, "params": init_member(SPEC, 2)},  # a digit pair's model
    ],
    ids=["shapes", "epoch-0", "epoch-text", "classes"],
)
def test_a_checkpoint_of_another_model_is_refused(payload):
    with pytest.raises(BadCheckpoint, match="the job's model has"):
        load_checkpoint(saved(payload), member_shapes(SPEC, 10))


def test_bytes_that_are_no_checkpoint_are_refused():
    for junk in (b"", b"not a checkpoint", saved([1, 2, 3]), saved({"epoch": 1})):
        with pytest.raises(BadCheckpoint, match="does not decode"):
            load_checkpoint(junk, member_shapes(SPEC, 10))


def test_the_project_allows_no_torch_whose_weights_only_load_is_unsafe():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    (torch_requirement,) = [
        Requirement(r) for r in project["dependencies"] if Requirement(r).name == "torch"
    ]
    assert not torch_requirement.specifier.contains("2.9.1")
    assert torch_requirement.specifier.contains(str(SAFE_TORCH))
    assert Version(torch.__version__.split("+")[0]) >= SAFE_TORCH
