"""Downloads from real HTTP servers on 127.0.0.1: a good mirror, a corrupt one, dead ones.

python -m pytest -m integration tests/integration/test_download.py
"""

from __future__ import annotations

import functools
import gzip
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from mnistgrid.data.download import MD5_DECOMPRESSED, download_mnist
from mnistgrid.data.mnist_source import load_mnist
from mnistgrid.errors import DataError

pytestmark = pytest.mark.integration
RUN_CLI = "from mnistgrid.cli import main; main()"


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def serve(folder: Path) -> Iterator[str]:
    handler = functools.partial(QuietHandler, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def good_mirror(mnist_dir: Path) -> Iterator[str]:
    yield from serve(mnist_dir)


@pytest.fixture(scope="module")
def bad_mirror(tmp_path_factory: pytest.TempPathFactory, mnist_dir: Path) -> Iterator[str]:
    """The same four files, each with one byte of its decompressed content changed."""
    folder = tmp_path_factory.mktemp("bad_mirror")
    for name in MD5_DECOMPRESSED:
        content = bytearray(gzip.decompress((mnist_dir / name).read_bytes()))
        content[-1] = (content[-1] + 1) % 10  # still a valid label or pixel: only md5 can tell
        (folder / name).write_bytes(gzip.compress(bytes(content), compresslevel=1))
    yield from serve(folder)


@pytest.fixture
def empty_mirror(tmp_path: Path) -> Iterator[str]:
    """Answers every file with HTTP 404."""
    folder = tmp_path / "empty"
    folder.mkdir()
    yield from serve(folder)


@pytest.fixture
def closed_port() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


@pytest.fixture
def silent_mirror() -> Iterator[str]:
    """Accepts connections and never answers, as a stalled network does."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/"
    listener.close()


def same_files(folder: Path, mnist_dir: Path) -> bool:
    return all((folder / n).read_bytes() == (mnist_dir / n).read_bytes() for n in MD5_DECOMPRESSED)


def test_download_then_load(good_mirror: str, mnist_dir: Path, tmp_path: Path) -> None:
    splits = load_mnist(None, tmp_path / "cache", mirrors=[good_mirror])
    assert same_files(tmp_path / "cache" / "mnist", mnist_dir)
    assert len(splits.train_labels) == 60_000 and len(splits.test_labels) == 10_000
    assert splits.train_images.shape == (60_000, 28, 28)
    assert splits.checksum == load_mnist(mnist_dir, tmp_path / "cache").checksum


def test_checksum_mismatch_falls_through_to_the_next_mirror(
    bad_mirror: str, good_mirror: str, mnist_dir: Path, tmp_path: Path
) -> None:
    download_mnist([bad_mirror, good_mirror], tmp_path)
    assert same_files(tmp_path, mnist_dir)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(MD5_DECOMPRESSED)


def test_only_bad_mirrors_is_a_data_error(
    bad_mirror: str, empty_mirror: str, tmp_path: Path
) -> None:
    dest = tmp_path / "dest"
    with pytest.raises(DataError) as caught:
        download_mnist([bad_mirror, empty_mirror], dest)
    message = str(caught.value)
    assert "md5" in message and "HTTP 404" in message and "\n" not in message
    assert list(dest.iterdir()) == []  # neither the bad file nor a temporary one is left


def assert_points_at_a_local_copy(error: DataError) -> None:
    assert "MNISTGRID_DATA_DIR" in str(error) and "--data DIR" in str(error)


def test_unreachable_mirror_fails_with_the_local_copy_hint(
    closed_port: str, tmp_path: Path
) -> None:
    with pytest.raises(DataError) as caught:
        load_mnist(None, tmp_path, mirrors=[closed_port])
    assert_points_at_a_local_copy(caught.value)
    assert "refused" in str(caught.value)


def test_stalled_mirror_times_out(silent_mirror: str, tmp_path: Path) -> None:
    with pytest.raises(DataError) as caught:
        download_mnist([silent_mirror], tmp_path, timeout=0.5)
    assert_points_at_a_local_copy(caught.value)


def test_dead_mirror_then_good_one(
    closed_port: str, good_mirror: str, mnist_dir: Path, tmp_path: Path
) -> None:
    download_mnist([closed_port, good_mirror], tmp_path)
    assert same_files(tmp_path, mnist_dir)


def test_cli_download(good_mirror: str, mnist_dir: Path, tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("mnistgrid")
    command = [str(script)] if script.exists() else [sys.executable, "-c", RUN_CLI]
    env = {**os.environ, "MNISTGRID_MIRRORS": f'["{good_mirror}"]'}
    done = subprocess.run(
        [*command, "data", "download", "--cache-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert same_files(tmp_path / "mnist", mnist_dir)
