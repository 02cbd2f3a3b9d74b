"""Read and write the fastai `mnist_png` layout: `training/<digit>/*.png`, `testing/<digit>/*.png`.

    mnistgrid data export-png DIR --data /path/to/mnist-idx

Images are read as the source posts read them (`tensor(Image.open(p))`): grayscale 28x28 uint8.
A split's order is by digit, then by file name (numeric names numerically), so it never depends
on the file system's listing order.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from mnistgrid.data.splits import MnistSplits
from mnistgrid.errors import DataError

SPLIT_DIRS = ("training", "testing")
SIDE = 28
DIGIT_NAMES = frozenset(str(digit) for digit in range(10))


def is_png_tree(root: Path) -> bool:
    return all((root / name).is_dir() for name in SPLIT_DIRS)


def png_files(split_dir: Path) -> list[tuple[int, Path]]:
    """(digit, path) of each PNG under `split_dir/<digit>/`, in reading order."""
    found: list[tuple[int, Path]] = []
    for folder in _digit_folders(split_dir):
        names = sorted((e.name for e in os.scandir(folder) if e.name.endswith(".png")), key=_order)
        found.extend((int(folder.name), folder / name) for name in names)
    if not found:
        raise DataError(f"{split_dir}: no PNG files under its digit folders 0-9")
    return found


def tree_fingerprint(root: Path) -> str:
    """sha256 of every PNG's path, size and mtime: changes whenever a file does, reads none."""
    lines = []
    for split in SPLIT_DIRS:
        for folder in _digit_folders(root / split):
            for entry in os.scandir(folder):
                if entry.name.endswith(".png"):
                    stat = entry.stat()
                    lines.append(
                        f"{split}/{folder.name}/{entry.name}|{stat.st_size}|{stat.st_mtime_ns}"
                    )
    return hashlib.sha256("\n".join(sorted(lines)).encode()).hexdigest()


def read_png_split(split_dir: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """Images (N, 28, 28) uint8 and labels (N,) int64 of one split folder."""
    files = png_files(split_dir)
    images = np.stack([_read_png(path) for _, path in files])
    labels = torch.tensor([digit for digit, _ in files], dtype=torch.int64)
    return torch.from_numpy(images), labels


def export_png(splits: MnistSplits, out_dir: Path) -> int:
    """Write every image as `<split>/<digit>/<index>.png`; returns how many were written."""
    parts = [
        (SPLIT_DIRS[0], splits.train_images, splits.train_labels),
        (SPLIT_DIRS[1], splits.test_images, splits.test_labels),
    ]
    for name, images, labels in parts:
        _export_split(out_dir / name, images, labels)
    return len(splits.train_labels) + len(splits.test_labels)


def _export_split(split_dir: Path, images: torch.Tensor, labels: torch.Tensor) -> None:
    for digit in labels.unique().tolist():
        (split_dir / str(digit)).mkdir(parents=True, exist_ok=True)
    pixels = images.numpy()
    for index, digit in enumerate(labels.tolist()):
        Image.fromarray(pixels[index]).save(split_dir / str(digit) / f"{index}.png")


def _digit_folders(split_dir: Path) -> list[Path]:
    folders = []
    for entry in sorted(os.scandir(split_dir), key=lambda entry: entry.name):
        if entry.name.startswith(".") or not entry.is_dir():
            continue
        if entry.name not in DIGIT_NAMES:
            raise DataError(f"{entry.path}: expected only digit folders 0-9 in {split_dir}")
        folders.append(Path(entry.path))
    return folders


def _read_png(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as image:
            pixels = np.asarray(image)
            mode = image.mode
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise DataError(f"{path}: not a readable PNG ({error})") from None
    if mode != "L" or pixels.shape != (SIDE, SIDE):
        height, width = pixels.shape[:2]
        raise DataError(
            f"{path}: expected a grayscale {SIDE}x{SIDE} image, got mode {mode} {width}x{height}"
        )
    return pixels


def _order(name: str) -> tuple[int, int, str]:
    # Numeric names sort numerically, so `<index>.png` reads back in the order it was written.
    stem = name.removesuffix(".png")
    return (0, int(stem), "") if stem.isdigit() else (1, 0, name)
