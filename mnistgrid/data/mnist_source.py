"""MNIST as four tensors, from a folder of idx files, a fastai PNG tree, or a download.

    python -c "from pathlib import Path; from mnistgrid.data.mnist_source import load_mnist; \
print(load_mnist(Path('/data/mnist'), Path.home() / '.cache/mnistgrid').checksum)"

Decoding takes about a second, so decoded tensors are kept on disk under
`cache_dir/tensors/<source key>/{train,test}.pt` and in memory. The source key is cheap to get
(sha256 of the idx files' bytes; for a PNG tree, of each file's name, size and mtime), so a
changed source is noticed on every load without decoding it. Only the CACHE_KEEP most
recently used sources stay on disk.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import warnings
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

from mnistgrid.data.download import download_mnist
from mnistgrid.data.idx_files import IMAGES_MAGIC, LABELS_MAGIC, idx_header, read_idx_split
from mnistgrid.data.memo import Memo
from mnistgrid.data.png_tree import SPLIT_DIRS, is_png_tree, read_png_split, tree_fingerprint
from mnistgrid.data.splits import MnistSplits
from mnistgrid.errors import DataError

# Role -> the standard file name without `.gz`; this order is also the checksum's order.
IDX_NAMES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
EXPECTED = (
    "expected the four MNIST idx files ("
    + ", ".join(f"{n}[.gz]" for n in IDX_NAMES.values())
    + ") or a fastai mnist_png tree (training/<digit>/*.png, testing/<digit>/*.png)"
)


@dataclass(frozen=True)
class _Source:
    kind: Literal["idx", "png"]
    root: Path
    idx_paths: dict[str, Path]  # role -> file; empty for a PNG tree


# Decoded sources kept on disk per cache folder, the most recently used: a source that changes
# (a file replaced, a PNG tree touched) would otherwise leave ~55 MB behind every time.
CACHE_KEEP = 3
# Cache folder -> splits. Each full MNIST is ~55 MB; a worker rarely sees more than one source.
_memo: Memo[Path, MnistSplits] = Memo(size=2)


def load_mnist(
    source: Path | None, cache_dir: Path, mirrors: Sequence[str] | None = None
) -> MnistSplits:
    """Load MNIST from `source`, or download it into `cache_dir/mnist` when `source` is None.

    `mirrors` defaults to the settings' mirrors and is only read when downloading.
    """
    found = _locate(source if source is not None else _download(cache_dir, mirrors))
    # Keyed by the cache folder too, so a load always leaves a disk cache where it was asked.
    folder = cache_dir / "tensors" / _source_key(found)
    return _memo.get(folder, lambda: _load_cached(found, folder))


def _load_cached(found: _Source, folder: Path) -> MnistSplits:
    splits = _read_cache(folder)
    if splits is None:
        splits = _decode(found)
        _write_cache(folder, splits)
        _prune(folder.parent)
    else:
        _mark_used(folder)
    return splits


def clear_memo() -> None:
    """Forget the splits held in memory; the next load reads the disk cache."""
    _memo.clear()


def content_checksum(
    train: tuple[torch.Tensor, torch.Tensor], test: tuple[torch.Tensor, torch.Tensor]
) -> str:
    digest = hashlib.sha256()
    for images, labels in (train, test):
        digest.update(idx_header(IMAGES_MAGIC, tuple(images.shape)))
        digest.update(images.contiguous().numpy().tobytes())
        digest.update(idx_header(LABELS_MAGIC, tuple(labels.shape)))
        digest.update(labels.to(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _download(cache_dir: Path, mirrors: Sequence[str] | None) -> Path:
    if mirrors is None:
        from mnistgrid.settings import load_settings  # only a download needs the settings

        mirrors = load_settings().mirrors
    folder = cache_dir / "mnist"
    download_mnist(mirrors, folder)
    return folder


def _locate(root: Path) -> _Source:
    if not root.is_dir():
        problem = "does not exist" if not root.exists() else "is not a folder"
        raise DataError(f"{root}: {problem}; {EXPECTED}")
    paths = {role: _idx_file(root, name) for role, name in IDX_NAMES.items()}
    present = {role: path for role, path in paths.items() if path is not None}
    if len(present) == len(IDX_NAMES):
        return _Source("idx", root, present)
    if present:
        missing = ", ".join(f"{IDX_NAMES[r]}[.gz]" for r in IDX_NAMES if r not in present)
        raise DataError(f"{root}: missing {missing}")
    if is_png_tree(root):
        return _Source("png", root, {})
    raise DataError(f"{root}: neither idx files nor a PNG tree; {EXPECTED}")


def _idx_file(root: Path, name: str) -> Path | None:
    for candidate in (root / f"{name}.gz", root / name):
        if candidate.is_file():
            return candidate
    return None


def _source_key(source: _Source) -> str:
    if source.kind == "png":
        # Reading 70,000 PNGs to hash them would cost more than the cache saves: stat them instead.
        return "png-" + tree_fingerprint(source.root)
    digest = hashlib.sha256()
    for path in source.idx_paths.values():
        digest.update(_read_source_bytes(path))
    return "idx-" + digest.hexdigest()


def _read_source_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise DataError(f"{path}: cannot read ({error.strerror or error})") from None


def _decode(source: _Source) -> MnistSplits:
    if source.kind == "idx":
        paths = source.idx_paths
        train = read_idx_split(paths["train_images"], paths["train_labels"])
        test = read_idx_split(paths["test_images"], paths["test_labels"])
    else:
        train = read_png_split(source.root / SPLIT_DIRS[0])
        test = read_png_split(source.root / SPLIT_DIRS[1])
    return MnistSplits(*train, *test, checksum=content_checksum(train, test))


def _read_cache(folder: Path) -> MnistSplits | None:
    """The cached splits, or None when any file is missing, corrupt or inconsistent."""
    try:
        train = torch.load(folder / "train.pt", weights_only=True)
        test = torch.load(folder / "test.pt", weights_only=True)
    # A cache file can be broken in many ways (truncated zip, bad pickle, missing): rebuild.
    except Exception:
        return None
    if not (_valid_part(train) and _valid_part(test)) or train["checksum"] != test["checksum"]:
        return None
    return MnistSplits(
        train["images"], train["labels"], test["images"], test["labels"], train["checksum"]
    )


def _valid_part(part: object) -> bool:
    if not isinstance(part, dict) or not isinstance(part.get("checksum"), str):
        return False
    images, labels = part.get("images"), part.get("labels")
    return (
        isinstance(images, torch.Tensor)
        and isinstance(labels, torch.Tensor)
        and images.dtype == torch.uint8
        and labels.dtype == torch.int64
        and images.shape[1:] == (28, 28)
        and labels.shape == images.shape[:1]
    )


def _write_cache(folder: Path, splits: MnistSplits) -> None:
    parts = {
        "train.pt": (splits.train_images, splits.train_labels),
        "test.pt": (splits.test_images, splits.test_labels),
    }
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for name, (images, labels) in parts.items():
            part = {"images": images, "labels": labels, "checksum": splits.checksum}
            _save_atomic(part, folder / name)
    except OSError as error:
        # The data is loaded; a cache that cannot be written only costs the next load time.
        warnings.warn(f"cannot cache MNIST tensors in {folder}: {error}", stacklevel=3)


def _mark_used(folder: Path) -> None:
    with suppress(OSError):  # a read-only cache still serves; it is only pruned less well
        os.utime(folder)


def _prune(tensors: Path) -> None:
    """Delete all but the CACHE_KEEP most recently used folders under `tensors`."""
    try:
        folders = [path for path in tensors.iterdir() if path.is_dir()]
    except OSError:
        return
    for stale in sorted(folders, key=_used_at, reverse=True)[CACHE_KEEP:]:
        shutil.rmtree(stale, ignore_errors=True)  # another process may be pruning it too


def _used_at(folder: Path) -> float:
    try:
        return folder.stat().st_mtime
    except OSError:
        return 0.0


def _save_atomic(obj: object, path: Path) -> None:
    fd, part = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            torch.save(obj, out)
        os.replace(part, path)
    finally:
        Path(part).unlink(missing_ok=True)
