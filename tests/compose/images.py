"""The images the stack runs on: the official ones where a registry answers, else stand-ins
built here from Debian packages under the same names, cached by a hash of their recipe.

    python -m pytest -m compose tests/compose

A stand-in (recipe in standins/) has the official image's name and interface: the project's
Dockerfile and docker-compose.yml run unchanged on it. It carries the label
`org.mnistgrid.standin` with its recipe's hash, so a second run reuses it and a changed recipe
rebuilds it; an image without that label is an official one and is used as it is.
"""

from __future__ import annotations

import hashlib
import subprocess
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tests.compose.engine import install_missing

HERE = Path(__file__).resolve().parent
RECIPES = HERE / "standins"
LABEL = "org.mnistgrid.standin"
PULL_TIMEOUT = 300
BUILD_TIMEOUT = 900
_installing = threading.Lock()  # stand-ins are made side by side; dpkg takes one install


@dataclass(frozen=True)
class StandIn:
    image: str  # the official name it stands in for
    recipe: str  # its folder under standins/

    @property
    def folder(self) -> Path:
        return RECIPES / self.recipe

    def recipe_hash(self) -> str:
        """The hash of everything that makes the image: its folder and the rootfs script."""
        digest = hashlib.sha256()
        files = [RECIPES / "rootfs.sh", *sorted(p for p in self.folder.rglob("*") if p.is_file())]
        for path in files:
            digest.update(path.relative_to(RECIPES).as_posix().encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
        return digest.hexdigest()[:16]

    def packages(self) -> list[str]:
        return (self.folder / "debian-packages").read_text().split()


STAND_INS = (
    StandIn("python:3.11-slim-bookworm", "python"),
    StandIn("redis:7.4", "redis"),
    StandIn("postgres:16", "postgres"),
)


def docker(*argv: str, timeout: float = 120, check: bool = False) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["docker", *argv], capture_output=True, text=True, timeout=timeout, check=check
    )


def standin_label(image: str) -> str | None:
    """None when `image` is absent; "" when it is present without the label (official)."""
    found = docker(
        "image", "inspect", "--format", f'{{{{index .Config.Labels "{LABEL}"}}}}', image
    )
    if found.returncode != 0:
        return None
    label = found.stdout.strip()
    return "" if label in {"", "<no value>"} else label


def pulled(image: str) -> bool:
    try:
        return docker("pull", "--quiet", image, timeout=PULL_TIMEOUT).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def build_standin(standin: StandIn, recipe_hash: str) -> None:
    """debootstrap its packages into an imported base image, then build its Dockerfile on it."""
    with _installing:
        install_missing(["debootstrap"])
    base = f"mnistgrid-standin/{standin.recipe}-rootfs:{recipe_hash}"
    with tempfile.TemporaryDirectory(prefix=f"standin-{standin.recipe}-") as work:
        script = [str(RECIPES / "rootfs.sh"), work, base, *standin.packages()]
        done = subprocess.run(["sh", *script], capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise RuntimeError(f"rootfs of {standin.image} failed:\n{done.stderr[-3000:]}")
    args = ["--build-arg", f"BASE={base}", "--label", f"{LABEL}={recipe_hash}"]
    build = docker("build", *args, "-t", standin.image, str(standin.folder), timeout=BUILD_TIMEOUT)
    if build.returncode != 0:
        raise RuntimeError(f"build of {standin.image} failed:\n{build.stderr[-3000:]}")


def provide(standin: StandIn) -> str:
    """Make `standin.image` present; says which kind it is."""
    recipe_hash = standin.recipe_hash()
    label = standin_label(standin.image)
    if label == "":
        return f"{standin.image}: official, present"
    if pulled(standin.image):
        return f"{standin.image}: official, pulled"
    if label == recipe_hash:
        return f"{standin.image}: stand-in {recipe_hash}, cached"
    build_standin(standin, recipe_hash)
    return f"{standin.image}: stand-in {recipe_hash}, built"


def provide_images() -> list[str]:
    """Every image the stack needs besides its own; the stand-ins are made side by side
    (debootstrap mostly waits on the network)."""
    with ThreadPoolExecutor(len(STAND_INS)) as pool:
        return list(pool.map(provide, STAND_INS))
