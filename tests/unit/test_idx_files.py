"""idx files: small synthetic ones round-trip; every kind of damage is a one-line DataError.

python -m pytest tests/unit/test_idx_files.py
"""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mnistgrid.data.idx_files import (
    read_idx_images,
    read_idx_labels,
    read_idx_split,
    write_idx_images,
    write_idx_labels,
)
from mnistgrid.errors import DataError

N = 12


def small_split(n: int = N, side: int = 28) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, side, side), generator=g, dtype=torch.uint8)
    return images, torch.arange(n) % 10


def write_split(folder: Path, prefix: str, suffix: str, n: int = N) -> tuple[Path, Path]:
    images, labels = small_split(n)
    images_path = folder / f"{prefix}-images-idx3-ubyte{suffix}"
    labels_path = folder / f"{prefix}-labels-idx1-ubyte{suffix}"
    write_idx_images(images_path, images)
    write_idx_labels(labels_path, labels)
    return images_path, labels_path


def rewrite(path: Path, edit) -> None:
    """Apply `edit` to the decompressed content, keeping the file's compression."""
    if path.name.endswith(".gz"):
        path.write_bytes(gzip.compress(edit(gzip.decompress(path.read_bytes()))))
    else:
        path.write_bytes(edit(path.read_bytes()))


@pytest.mark.parametrize("suffix", [".gz", ""])
def test_round_trip(tmp_path: Path, suffix: str) -> None:
    images_path, labels_path = write_split(tmp_path, "t10k", suffix)
    images, labels = read_idx_split(images_path, labels_path)
    want_images, want_labels = small_split()
    assert images.dtype == torch.uint8 and images.shape == (N, 28, 28)
    assert labels.dtype == torch.int64
    assert torch.equal(images, want_images) and torch.equal(labels, want_labels)


def test_gz_file_is_gzip(tmp_path: Path) -> None:
    images_path, _ = write_split(tmp_path, "t10k", ".gz")
    assert images_path.read_bytes()[:2] == b"\x1f\x8b"


def assert_data_error(path: Path, read, *fragments: str) -> None:
    with pytest.raises(DataError) as caught:
        read(path)
    message = str(caught.value)
    assert "\n" not in message
    assert path.name in message
    for fragment in fragments:
        assert fragment in message


@pytest.mark.parametrize("suffix", [".gz", ""])
def test_bad_magic(tmp_path: Path, suffix: str) -> None:
    images_path, labels_path = write_split(tmp_path, "train", suffix)
    # A labels file where images are expected, and the other way round.
    assert_data_error(labels_path, read_idx_images, "magic number 2049, expected 2051")
    assert_data_error(images_path, read_idx_labels, "magic number 2051, expected 2049")


@pytest.mark.parametrize("suffix", [".gz", ""])
def test_truncated_images(tmp_path: Path, suffix: str) -> None:
    images_path, _ = write_split(tmp_path, "train", suffix)
    rewrite(images_path, lambda data: data[: -28 * 28 - 5])
    assert_data_error(
        images_path, read_idx_images, f"truncated: header says {N} images, file holds {N - 2}"
    )


@pytest.mark.parametrize("suffix", [".gz", ""])
def test_truncated_labels(tmp_path: Path, suffix: str) -> None:
    _, labels_path = write_split(tmp_path, "t10k", suffix)
    rewrite(labels_path, lambda data: data[:-3])
    assert_data_error(
        labels_path, read_idx_labels, f"truncated: header says {N} labels, file holds {N - 3}"
    )


def test_trailing_bytes(tmp_path: Path) -> None:
    _, labels_path = write_split(tmp_path, "t10k", ".gz")
    rewrite(labels_path, lambda data: data + b"\x01\x02")
    assert_data_error(labels_path, read_idx_labels, f"header says {N} labels", "2 bytes follow")


def test_too_short_for_a_header(tmp_path: Path) -> None:
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(b"\x00\x00\x08")
    assert_data_error(path, read_idx_images, "too short")


def test_label_out_of_range(tmp_path: Path) -> None:
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    write_idx_labels(path, torch.tensor([0, 9, 11, 3]))
    assert_data_error(path, read_idx_labels, "label 11 at index 2 is outside 0-9")


def test_count_mismatch(tmp_path: Path) -> None:
    images_path, labels_path = write_split(tmp_path, "t10k", ".gz")
    write_idx_labels(labels_path, torch.arange(N - 1) % 10)
    with pytest.raises(DataError) as caught:
        read_idx_split(images_path, labels_path)
    assert labels_path.name in str(caught.value)
    assert f"holds {N - 1} labels" in str(caught.value)
    assert f"holds {N} images" in str(caught.value)


def test_wrong_dims(tmp_path: Path) -> None:
    path = tmp_path / "train-images-idx3-ubyte.gz"
    write_idx_images(path, small_split(side=32)[0])
    assert_data_error(path, read_idx_images, "32x32, expected 28x28")


def test_non_gzip_bytes_in_gz(tmp_path: Path) -> None:
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(b"this is not gzip at all" * 10)
    assert_data_error(path, read_idx_images, "corrupt gzip")


def test_cut_off_gzip_stream(tmp_path: Path) -> None:
    images_path, _ = write_split(tmp_path, "train", ".gz")
    images_path.write_bytes(images_path.read_bytes()[:200])
    assert_data_error(images_path, read_idx_images, "corrupt gzip")


def test_missing_file(tmp_path: Path) -> None:
    assert_data_error(tmp_path / "t10k-labels-idx1-ubyte", read_idx_labels, "not found")


def mnistgrid_command() -> list[str]:
    script = Path(sys.executable).with_name("mnistgrid")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from mnistgrid.cli import main; main()"]


def test_cli_reports_a_corrupt_folder_in_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "mnist"
    folder.mkdir()
    write_split(folder, "train", ".gz")
    _, labels_path = write_split(folder, "t10k", ".gz")
    rewrite(labels_path, lambda data: data[:-3])
    env = {**os.environ, "MNISTGRID_CACHE_DIR": str(tmp_path / "cache")}
    done = subprocess.run(
        [*mnistgrid_command(), "data", "info", "--data", str(folder)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "t10k-labels-idx1-ubyte.gz" in lines[0] and "truncated" in lines[0]
