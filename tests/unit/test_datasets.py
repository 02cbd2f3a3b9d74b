"""Tasks from the real MNIST files: counts, digit pairs, seeded splits, statistics, the cache.

python -m pytest tests/unit/test_datasets.py
"""

from __future__ import annotations

import gzip
import hashlib
import shutil
from pathlib import Path

import pytest
import torch

from mnistgrid.data import mnist_source
from mnistgrid.data.datasets import clear_memo, load_task, split_indices
from mnistgrid.data.idx_files import write_idx_images, write_idx_labels
from mnistgrid.data.mnist_source import IDX_NAMES, load_mnist
from mnistgrid.errors import DataError
from mnistgrid.spec import DataSpec

TRAIN_3, TRAIN_7, TEST_3, TEST_7 = 6131, 6265, 1010, 1028


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


def test_ten_digits_validate_on_test(mnist_dir: Path, cache_dir: Path) -> None:
    data = load_task(mnist_dir, cache_dir, DataSpec())
    assert data.x_train.shape == (60_000, 784) and data.x_valid.shape == (10_000, 784)
    assert data.x_train.dtype == torch.float32 and data.y_train.dtype == torch.int64
    assert data.x_train.device.type == "cpu"
    assert data.classes == tuple(range(10))
    assert float(data.x_train.min()) == 0.0 and float(data.x_train.max()) == 1.0
    assert torch.bincount(data.y_valid, minlength=10)[3] == TEST_3


def test_checksum_is_sha256_of_the_decompressed_files(mnist_dir: Path, cache_dir: Path) -> None:
    digest = hashlib.sha256()
    for name in IDX_NAMES.values():
        digest.update(gzip.decompress((mnist_dir / f"{name}.gz").read_bytes()))
    assert load_task(mnist_dir, cache_dir, DataSpec()).checksum == digest.hexdigest()


def test_pair_three_versus_seven(mnist_dir: Path, cache_dir: Path) -> None:
    data = load_task(mnist_dir, cache_dir, DataSpec(digits=(3, 7)))
    assert data.classes == (7, 3)
    assert len(data.y_train) == TRAIN_3 + TRAIN_7 and len(data.y_valid) == TEST_3 + TEST_7
    # The first digit of the pair is 1, as in the posts.
    assert int(data.y_train.sum()) == TRAIN_3 and int(data.y_valid.sum()) == TEST_3
    assert set(data.y_train.tolist()) == {0, 1}


def test_fraction_split_is_seeded_and_disjoint(mnist_dir: Path, cache_dir: Path) -> None:
    spec = DataSpec(digits=(3, 7), valid=0.2, split_seed=5)
    rng_before = torch.get_rng_state()
    data = load_task(mnist_dir, cache_dir, spec)
    assert torch.equal(torch.get_rng_state(), rng_before)
    n = TRAIN_3 + TRAIN_7
    assert len(data.y_valid) == round(0.2 * n) and len(data.y_train) + len(data.y_valid) == n
    clear_memo()
    again = load_task(mnist_dir, cache_dir, spec)
    assert again is not data and torch.equal(again.x_valid, data.x_valid)
    other = load_task(mnist_dir, cache_dir, spec.model_copy(update={"split_seed": 6}))
    assert not torch.equal(other.x_valid, data.x_valid)


def test_split_indices_partition() -> None:
    train, valid = split_indices(1000, 0.25, seed=3)
    assert len(valid) == 250 and len(train) == 750
    assert set(train.tolist()).isdisjoint(valid.tolist())
    assert sorted(train.tolist() + valid.tolist()) == list(range(1000))
    assert torch.equal(split_indices(1000, 0.25, seed=3)[1], valid)


def test_normalization_uses_training_statistics(mnist_dir: Path, cache_dir: Path) -> None:
    raw = load_task(mnist_dir, cache_dir, DataSpec())
    mean, std = float(raw.x_train.mean()), float(raw.x_train.std())
    assert mean == pytest.approx(0.1307, abs=1e-3) and std == pytest.approx(0.3081, abs=1e-3)
    normalized = load_task(mnist_dir, cache_dir, DataSpec(normalize=True))
    assert float(normalized.x_train.mean()) == pytest.approx(0.0, abs=1e-4)
    assert float(normalized.x_train.std()) == pytest.approx(1.0, abs=1e-4)
    # Validation is shifted by the training statistics, not its own.
    torch.testing.assert_close(normalized.x_valid[:500] * std + mean, raw.x_valid[:500])


def copy_of_test_labels_changed(mnist_dir: Path, folder: Path, index: int) -> int:
    """Copy the real files into `folder`, changing one test label; returns the new label."""
    for name in IDX_NAMES.values():
        shutil.copy(mnist_dir / f"{name}.gz", folder / f"{name}.gz")
    path = folder / "t10k-labels-idx1-ubyte.gz"
    content = bytearray(gzip.decompress(path.read_bytes()))
    content[8 + index] = (content[8 + index] + 1) % 10
    path.write_bytes(gzip.compress(bytes(content), compresslevel=1))
    return content[8 + index]


def test_cache_is_rebuilt_when_the_source_changes(mnist_dir: Path, tmp_path: Path) -> None:
    source, cache = tmp_path / "mnist", tmp_path / "cache"
    source.mkdir()
    for name in IDX_NAMES.values():
        shutil.copy(mnist_dir / f"{name}.gz", source / f"{name}.gz")
    before = load_mnist(source, cache)
    new_label = copy_of_test_labels_changed(mnist_dir, source, index=17)
    after = load_mnist(source, cache)
    assert after.checksum != before.checksum
    assert int(after.test_labels[17]) == new_label != int(before.test_labels[17])
    assert len(list((cache / "tensors").iterdir())) == 2


def small_idx_folder(folder: Path) -> None:
    g = torch.Generator().manual_seed(2)
    for prefix, n in (("train", 40), ("t10k", 10)):
        images = torch.randint(0, 256, (n, 28, 28), generator=g, dtype=torch.uint8)
        write_idx_images(folder / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx_labels(folder / f"{prefix}-labels-idx1-ubyte", torch.arange(n) % 10)


def cache_files(cache: Path) -> list[Path]:
    return sorted((cache / "tensors").glob("*/*.pt"))


def test_second_load_reads_the_disk_cache(tmp_path: Path) -> None:
    source, cache = tmp_path / "mnist", tmp_path / "cache"
    source.mkdir()
    small_idx_folder(source)
    first = load_mnist(source, cache)
    files = cache_files(cache)
    assert [path.name for path in files] == ["test.pt", "train.pt"]
    stamps = [path.stat().st_mtime_ns for path in files]
    mnist_source.clear_memo()
    second = load_mnist(source, cache)
    assert second is not first and second.checksum == first.checksum
    assert torch.equal(second.train_images, first.train_images)
    assert [path.stat().st_mtime_ns for path in files] == stamps
    assert load_mnist(source, cache) is second  # in-process memo


def test_corrupt_cache_file_is_rebuilt(tmp_path: Path) -> None:
    source, cache = tmp_path / "mnist", tmp_path / "cache"
    source.mkdir()
    small_idx_folder(source)
    first = load_mnist(source, cache)
    train_file = next(path for path in cache_files(cache) if path.name == "train.pt")
    train_file.write_bytes(train_file.read_bytes()[:100])
    mnist_source.clear_memo()
    rebuilt = load_mnist(source, cache)
    assert torch.equal(rebuilt.train_images, first.train_images)
    assert torch.load(train_file, weights_only=True)["checksum"] == first.checksum


def test_only_the_most_recently_used_sources_stay_cached(tmp_path: Path) -> None:
    source, cache = tmp_path / "mnist", tmp_path / "cache"
    source.mkdir()
    small_idx_folder(source)
    labels = source / "t10k-labels-idx1-ubyte"

    def new_folders_after_loading(version: int) -> set[Path]:
        write_idx_labels(labels, (torch.arange(10) + version) % 10)
        mnist_source.clear_memo()
        before = {path.parent for path in cache_files(cache)}
        load_mnist(source, cache)
        return {path.parent for path in cache_files(cache)} - before

    folders = [new_folders_after_loading(v).pop() for v in range(mnist_source.CACHE_KEEP)]
    assert new_folders_after_loading(0) == set()  # read from disk: now the most recently used
    (newest,) = new_folders_after_loading(mnist_source.CACHE_KEEP)
    kept = {path.parent for path in cache_files(cache)}
    assert kept == {folders[0], *folders[2:], newest}, "the least recently used one went"


def test_pair_absent_from_the_data_is_a_data_error(tmp_path: Path) -> None:
    source = tmp_path / "mnist"
    source.mkdir()
    small_idx_folder(source)
    write_idx_labels(source / "t10k-labels-idx1-ubyte", torch.zeros(10, dtype=torch.int64))
    with pytest.raises(DataError, match="no training or no validation examples"):
        load_task(source, tmp_path / "cache", DataSpec(digits=(3, 7)))
