"""Fetch the four MNIST idx .gz files from the first mirror that serves them intact.

    mnistgrid data download --cache-dir ~/.cache/mnistgrid

Each file streams into a temporary file next to its final name and is renamed into place only
after the md5 of its decompressed content matches the published value, so a file that exists
under its final name has been verified.
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from mnistgrid.errors import DataError

# md5 of the decompressed content: the mirrors' .gz files may be recompressed, their content not.
MD5_DECOMPRESSED = {
    "train-images-idx3-ubyte.gz": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte.gz": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte.gz": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte.gz": "27ae3e4e09519cfbb04c329615203637",
}
LOCAL_COPY_HINT = (
    "set MNISTGRID_DATA_DIR or pass --data DIR to a folder with the four MNIST idx files"
)
# Seconds to wait for a connection or for the next bytes: offline must fail fast, not hang.
TIMEOUT_S = 5.0
CHUNK = 1 << 20


def download_mnist(
    mirrors: Iterable[str], dest_dir: Path, timeout: float = TIMEOUT_S
) -> dict[str, Path]:
    """Make sure `dest_dir` holds the four verified .gz files; returns name -> path."""
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DataError(f"{dest_dir}: cannot create the download folder ({error})") from None
    mirrors = list(mirrors)
    unreachable: set[str] = set()  # a dead mirror is not retried for the next file
    paths = {}
    for name, md5 in MD5_DECOMPRESSED.items():
        path = dest_dir / name
        if not path.exists():
            _fetch_verified(name, md5, mirrors, path, unreachable, timeout)
        paths[name] = path
    return paths


def _fetch_verified(
    name: str, md5: str, mirrors: list[str], path: Path, unreachable: set[str], timeout: float
) -> None:
    failures = []
    for mirror in mirrors:
        if mirror in unreachable:
            failures.append(f"{mirror}: unreachable")
            continue
        try:
            _fetch_one(_url(mirror, name), md5, path, timeout)
            return
        except _Unreachable as error:
            unreachable.add(mirror)
            failures.append(f"{mirror}: {error}")
        except _BadFile as error:
            failures.append(f"{mirror}: {error}")
        except OSError as error:
            raise DataError(f"{path}: cannot write ({error})") from None
    tried = "; ".join(failures) or "no mirrors configured"
    raise DataError(f"cannot download {name} ({tried}); {LOCAL_COPY_HINT}")


class _Unreachable(Exception):
    """The mirror did not answer: skip it for the remaining files."""


class _BadFile(Exception):
    """The mirror answered, but not with this file intact."""


def _url(mirror: str, name: str) -> str:
    return mirror if mirror.endswith(name) else mirror.rstrip("/") + "/" + name


def _fetch_one(url: str, md5: str, path: Path, timeout: float) -> None:
    fd, part = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            _stream(url, out, timeout)
        found = _decompressed_md5(Path(part))
        if found != md5:
            raise _BadFile(f"md5 of decompressed content is {found}, expected {md5}")
        os.replace(part, path)
    finally:
        Path(part).unlink(missing_ok=True)


def _stream(url: str, out: BinaryIO, timeout: float) -> None:
    # Only the network's errors are the mirror's fault; a failed local write propagates.
    with _network_errors(timeout):
        response = urllib.request.urlopen(url, timeout=timeout)
    with response:
        while True:
            with _network_errors(timeout):
                chunk = response.read(CHUNK)
            if not chunk:
                return
            out.write(chunk)


@contextmanager
def _network_errors(timeout: float) -> Iterator[None]:
    try:
        yield
    except urllib.error.HTTPError as error:
        raise _BadFile(f"HTTP {error.code} {error.reason}") from None
    except urllib.error.URLError as error:
        raise _Unreachable(str(error.reason)) from None
    except TimeoutError:
        raise _Unreachable(f"no answer within {timeout:g} s") from None
    except http.client.HTTPException as error:
        raise _BadFile(f"broken HTTP response ({type(error).__name__})") from None
    except (OSError, ValueError) as error:
        raise _Unreachable(str(error) or type(error).__name__) from None


def _decompressed_md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    try:
        with gzip.open(path, "rb") as stream:
            while chunk := stream.read(CHUNK):
                digest.update(chunk)
    except (gzip.BadGzipFile, EOFError, zlib.error) as error:
        raise _BadFile(f"not a valid gzip file ({error})") from None
    return digest.hexdigest()
