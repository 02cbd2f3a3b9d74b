"""The fastai PNG layout: idx data exported to PNG reads back equal, in a fixed order.

python -m pytest tests/unit/test_png_tree.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from mnistgrid.cli.commands.data_cmd import data
from mnistgrid.data.idx_files import read_idx_split, write_idx_images, write_idx_labels
from mnistgrid.data.mnist_source import MnistSplits, content_checksum, load_mnist
from mnistgrid.data.png_tree import export_png, png_files, read_png_split
from mnistgrid.errors import DataError

REAL_SUBSET = 600  # exporting all 10,000 test images takes ~2 s; a subset shows the same


def synthetic_splits(n_train: int = 30, n_test: int = 15) -> MnistSplits:
    g = torch.Generator().manual_seed(1)
    train = torch.randint(0, 256, (n_train, 28, 28), generator=g, dtype=torch.uint8)
    test = torch.randint(0, 256, (n_test, 28, 28), generator=g, dtype=torch.uint8)
    train_labels = torch.randint(0, 10, (n_train,), generator=g)
    test_labels = torch.randint(0, 10, (n_test,), generator=g)
    checksum = content_checksum((train, train_labels), (test, test_labels))
    return MnistSplits(train, train_labels, test, test_labels, checksum)


def in_png_order(images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The order a tree reads back in: by digit, then by index (a stable sort keeps it)."""
    order = torch.sort(labels, stable=True).indices
    return images[order], labels[order]


def assert_reads_back(split_dir: Path, images: torch.Tensor, labels: torch.Tensor) -> None:
    got_images, got_labels = read_png_split(split_dir)
    want_images, want_labels = in_png_order(images, labels)
    assert got_images.dtype == torch.uint8 and got_labels.dtype == torch.int64
    assert torch.equal(got_images, want_images)
    assert torch.equal(got_labels, want_labels)


def test_synthetic_round_trip(tmp_path: Path) -> None:
    splits = synthetic_splits()
    assert export_png(splits, tmp_path) == 45
    assert (tmp_path / "training" / str(int(splits.train_labels[0])) / "0.png").is_file()
    assert_reads_back(tmp_path / "training", splits.train_images, splits.train_labels)
    assert_reads_back(tmp_path / "testing", splits.test_images, splits.test_labels)


def test_names_sort_numerically(tmp_path: Path) -> None:
    labels = torch.zeros(12, dtype=torch.int64)  # one folder, names 0.png .. 11.png
    images = torch.arange(12, dtype=torch.uint8).view(12, 1, 1).expand(12, 28, 28).contiguous()
    export_png(MnistSplits(images, labels, images, labels, "x"), tmp_path)
    names = [path.name for _, path in png_files(tmp_path / "training")]
    assert names == [f"{i}.png" for i in range(12)]
    assert_reads_back(tmp_path / "training", images, labels)


def test_png_tree_and_idx_give_the_same_checksum(tmp_path: Path) -> None:
    splits = synthetic_splits()
    export_png(splits, tmp_path / "png")
    idx_dir = tmp_path / "idx"
    idx_dir.mkdir()
    for prefix, images, labels in (
        ("train", *in_png_order(splits.train_images, splits.train_labels)),
        ("t10k", *in_png_order(splits.test_images, splits.test_labels)),
    ):
        write_idx_images(idx_dir / f"{prefix}-images-idx3-ubyte", images)
        write_idx_labels(idx_dir / f"{prefix}-labels-idx1-ubyte.gz", labels)
    from_png = load_mnist(tmp_path / "png", tmp_path / "cache")
    from_idx = load_mnist(idx_dir, tmp_path / "cache")
    assert from_png.checksum == from_idx.checksum
    assert torch.equal(from_png.train_images, from_idx.train_images)


def test_real_subset_round_trip(tmp_path: Path, mnist_dir: Path) -> None:
    images, labels = read_idx_split(
        mnist_dir / "t10k-images-idx3-ubyte.gz", mnist_dir / "t10k-labels-idx1-ubyte.gz"
    )
    images, labels = images[:REAL_SUBSET], labels[:REAL_SUBSET]
    export_png(MnistSplits(images, labels, images[:5], labels[:5], "subset"), tmp_path)
    assert_reads_back(tmp_path / "training", images, labels)


def test_cli_export_png(tmp_path: Path) -> None:
    splits = synthetic_splits()
    idx_dir = tmp_path / "idx"
    idx_dir.mkdir()
    write_idx_images(idx_dir / "train-images-idx3-ubyte.gz", splits.train_images)
    write_idx_labels(idx_dir / "train-labels-idx1-ubyte.gz", splits.train_labels)
    write_idx_images(idx_dir / "t10k-images-idx3-ubyte.gz", splits.test_images)
    write_idx_labels(idx_dir / "t10k-labels-idx1-ubyte.gz", splits.test_labels)
    args = ["export-png", str(tmp_path / "png"), "--data", str(idx_dir)]
    args += ["--cache-dir", str(tmp_path / "cache")]
    result = CliRunner().invoke(data, args)
    assert result.exit_code == 0, result.output
    assert "wrote 45 PNGs" in result.output
    assert_reads_back(tmp_path / "png" / "testing", splits.test_images, splits.test_labels)
    again = CliRunner().invoke(data, args)
    assert again.exit_code != 0 and "not empty" in str(again.exception)


def one_png_tree(tmp_path: Path, image: Image.Image) -> Path:
    folder = tmp_path / "training" / "3"
    folder.mkdir(parents=True)
    image.save(folder / "0.png")
    return folder / "0.png"


@pytest.mark.parametrize(
    "image, problem",
    [
        (Image.new("L", (32, 28)), "grayscale 28x28 image, got mode L 32x28"),
        (Image.new("RGB", (28, 28)), "got mode RGB 28x28"),
    ],
)
def test_wrong_image_is_a_data_error(tmp_path: Path, image: Image.Image, problem: str) -> None:
    path = one_png_tree(tmp_path, image)
    with pytest.raises(DataError, match=problem) as caught:
        read_png_split(tmp_path / "training")
    assert str(path) in str(caught.value)


def test_unreadable_png_is_a_data_error(tmp_path: Path) -> None:
    path = one_png_tree(tmp_path, Image.fromarray(np.zeros((28, 28), np.uint8)))
    path.write_bytes(b"not a png")
    with pytest.raises(DataError, match="not a readable PNG"):
        read_png_split(tmp_path / "training")


def test_unexpected_folder_is_a_data_error(tmp_path: Path) -> None:
    (tmp_path / "training" / "ten").mkdir(parents=True)
    with pytest.raises(DataError, match="expected only digit folders"):
        read_png_split(tmp_path / "training")


def test_empty_split_is_a_data_error(tmp_path: Path) -> None:
    (tmp_path / "training" / "4").mkdir(parents=True)
    with pytest.raises(DataError, match="no PNG files"):
        read_png_split(tmp_path / "training")
