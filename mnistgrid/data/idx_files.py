"""Read and write MNIST's idx files, gzipped (`.gz`) or raw, refusing anything malformed.

    python -c "from pathlib import Path; from mnistgrid.data.idx_files import read_idx_split; \
print(read_idx_split(Path('t10k-images-idx3-ubyte.gz'), Path('t10k-labels-idx1-ubyte.gz')))"

Every problem with a file is a `DataError` whose one-line message starts with the file's path,
so the CLI can print it as it is.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import torch

from mnistgrid.errors import DataError

IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions
LABELS_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension
SIDE = 28
N_DIGITS = 10


def read_idx_images(path: Path) -> torch.Tensor:
    """The images of an idx3 file: (N, 28, 28) uint8."""
    data = _read_bytes(path)
    n, rows, cols = _header(path, data, IMAGES_MAGIC, n_dims=3)
    if (rows, cols) != (SIDE, SIDE):
        raise DataError(f"{path}: images are {rows}x{cols}, expected {SIDE}x{SIDE}")
    _check_length(path, data, 16, n, SIDE * SIDE, "images")
    return torch.frombuffer(data, dtype=torch.uint8, offset=16).reshape(n, SIDE, SIDE)


def read_idx_labels(path: Path) -> torch.Tensor:
    """The labels of an idx1 file: (N,) int64, each in 0..9."""
    data = _read_bytes(path)
    (n,) = _header(path, data, LABELS_MAGIC, n_dims=1)
    _check_length(path, data, 8, n, 1, "labels")
    labels = torch.frombuffer(data, dtype=torch.uint8, offset=8)
    bad = (labels >= N_DIGITS).nonzero()
    if len(bad):
        index = int(bad[0])
        raise DataError(f"{path}: label {int(labels[index])} at index {index} is outside 0-9")
    return labels.long()


def read_idx_split(images_path: Path, labels_path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """One split's images and labels, checked to be the same count."""
    images = read_idx_images(images_path)
    labels = read_idx_labels(labels_path)
    if len(images) != len(labels):
        raise DataError(
            f"{labels_path}: holds {len(labels)} labels but {images_path.name} holds "
            f"{len(images)} images"
        )
    return images, labels


def idx_header(magic: int, shape: tuple[int, ...]) -> bytes:
    """The bytes before the data: magic number, then each dimension, big-endian int32."""
    return struct.pack(f">{1 + len(shape)}I", magic, *shape)


def write_idx_images(path: Path, images: torch.Tensor) -> None:
    """Write (N, H, W) uint8 images; gzipped when the name ends in `.gz`.

    No 28x28 check: tests use this to make files the reader must reject.
    """
    _write(path, idx_header(IMAGES_MAGIC, tuple(images.shape)), images)


def write_idx_labels(path: Path, labels: torch.Tensor) -> None:
    """Write (N,) labels as uint8 (any value 0-255, so tests can write bad ones)."""
    _write(path, idx_header(LABELS_MAGIC, tuple(labels.shape)), labels)


def _write(path: Path, header: bytes, values: torch.Tensor) -> None:
    body = values.to(torch.uint8).contiguous().numpy().tobytes()
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "wb") as out:
        out.write(header + body)


def _read_bytes(path: Path) -> bytearray:
    # A bytearray, so torch.frombuffer gets a writable buffer it may share without copying.
    try:
        if path.name.endswith(".gz"):
            with gzip.open(path, "rb") as stream:
                return bytearray(stream.read())
        return bytearray(path.read_bytes())
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (gzip.BadGzipFile, EOFError, zlib.error) as error:
        raise DataError(f"{path}: corrupt gzip stream ({error})") from None
    except OSError as error:
        raise DataError(f"{path}: cannot read ({error.strerror or error})") from None


def _header(path: Path, data: bytearray, magic: int, n_dims: int) -> tuple[int, ...]:
    size = 4 * (1 + n_dims)
    if len(data) < size:
        raise DataError(f"{path}: {len(data)} bytes is too short for an idx header")
    found, *dims = struct.unpack_from(f">{1 + n_dims}I", data)
    if found != magic:
        kind = "images" if magic == IMAGES_MAGIC else "labels"
        raise DataError(f"{path}: not an idx {kind} file: magic number {found}, expected {magic}")
    return tuple(dims)


def _check_length(
    path: Path, data: bytearray, header_size: int, n: int, item_size: int, what: str
) -> None:
    held, extra = divmod(len(data) - header_size, item_size)
    if held < n:
        raise DataError(f"{path}: truncated: header says {n} {what}, file holds {held}")
    if held > n or extra:
        raise DataError(
            f"{path}: header says {n} {what}, but {len(data) - header_size - n * item_size} "
            "bytes follow them"
        )
