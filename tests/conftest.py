"""Fixtures shared by every layer: where the real MNIST files are."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
# One torch thread in every test process. The tests time nothing, and on a loaded 2-core
# machine a two-thread OpenMP pool spins at its barriers: a 256x784 matmul measured 16x slower
# than with one thread. `mnistgrid` subprocesses inherit MNISTGRID_TORCH_THREADS.
TEST_TORCH_THREADS = 1


def pytest_configure(config: pytest.Config) -> None:
    torch.set_num_threads(TEST_TORCH_THREADS)
    os.environ["MNISTGRID_TORCH_THREADS"] = str(TEST_TORCH_THREADS)


# The checkout's sibling `shared/` holds the real data on developer machines and in CI.
FALLBACK_DATA_DIR = REPO.parent / "shared" / "data" / "mnist"


def real_mnist_dir() -> Path | None:
    configured = os.environ.get("MNISTGRID_DATA_DIR")
    candidate = Path(configured) if configured else FALLBACK_DATA_DIR
    return candidate if (candidate / "train-images-idx3-ubyte.gz").exists() else None


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The real MNIST idx files; tests that need the full set skip only when they are absent."""
    found = real_mnist_dir()
    if found is None:
        pytest.skip("real MNIST not found: set MNISTGRID_DATA_DIR to the folder of idx .gz files")
    return found
