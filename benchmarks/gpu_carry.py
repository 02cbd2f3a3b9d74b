"""Fill .gpu-proof/ with what a lent GPU machine lacks for the GPU proof: wheels, and MNIST.

    python -m benchmarks.gpu_carry                 # for the lent machines' Python 3.12
    python -m benchmarks.gpu_carry --python 3.11   # for another Python

Run it here, where PyPI is reachable; the GPU machine reaches nothing. It resolves mnistgrid's
dependencies (pyproject.toml, and pytest; not torch, which the machine has with its CUDA) for
CPython X.Y on manylinux x86-64, leaves out every package the machine's image already has
(benchmarks/gpu_image_packages.txt), downloads the rest as wheels into .gpu-proof/wheels/
(emptied first: one version of each), and copies the four MNIST idx .gz files from
MNISTGRID_DATA_DIR (or ../shared/data/mnist) into .gpu-proof/mnist/. Both folders are ignored
by git and travel with the device tool's `carry: [".gpu-proof"]`; benchmarks/gpu_proof.py reads
them there.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.gpu_proof import (
    CARRIED_MNIST,
    CARRY,
    MNIST_FILES,
    REPO,
    WHEELS,
    find_mnist,
    mnistgrid_requirements,
)

IMAGE_PACKAGES = Path(__file__).with_name("gpu_image_packages.txt")
# Taken along although the image has it: pydantic-core needs a recent typing-extensions, the
# image's version is not recorded, and a newer one breaks nothing that imports it.
ALWAYS_CARRY = {"typing-extensions"}
PLATFORMS = [
    "manylinux_2_28_x86_64",
    "manylinux_2_27_x86_64",
    "manylinux_2_17_x86_64",
    "manylinux2014_x86_64",
    "manylinux_2_5_x86_64",
    "manylinux1_x86_64",
]
# The device tool sends at most 64 MiB: the repository, the wheels and MNIST together.
BUDGET_MIB = 48


def normalized(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def image_packages() -> set[str]:
    lines = IMAGE_PACKAGES.read_text().splitlines()
    return {normalized(line) for line in lines if line.strip() and not line.startswith("#")}


def target_options(python_version: str) -> list[str]:
    """pip's options that pick wheels for the GPU machine rather than for this one."""
    abi = "cp" + python_version.replace(".", "")
    options = ["--only-binary=:all:", "--python-version", python_version]
    options += ["--implementation", "cp", "--abi", abi, "--abi", "abi3", "--abi", "none"]
    for platform in PLATFORMS:
        options += ["--platform", platform]
    return options


def resolve(python_version: str) -> dict[str, str]:
    """name -> version of every package mnistgrid needs on that Python, torch left out."""
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "report.json"
        pip = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "-q"]
        pip += ["--report", str(report), "--target", str(Path(scratch) / "target")]
        subprocess.run(
            [*pip, *target_options(python_version), *mnistgrid_requirements()], check=True
        )
        installs = json.loads(report.read_text())["install"]
    return {item["metadata"]["name"]: item["metadata"]["version"] for item in installs}


def download(pins: dict[str, str], python_version: str) -> None:
    shutil.rmtree(WHEELS, ignore_errors=True)
    WHEELS.mkdir(parents=True)
    pip = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", str(WHEELS)]
    wanted = [f"{name}=={version}" for name, version in sorted(pins.items())]
    subprocess.run([*pip, *target_options(python_version), *wanted], check=True)


def copy_mnist() -> Path:
    source = find_mnist(None)
    if source is None:
        sys.exit("no MNIST idx .gz files: set MNISTGRID_DATA_DIR to their folder")
    CARRIED_MNIST.mkdir(parents=True, exist_ok=True)
    if source != CARRIED_MNIST.resolve():
        for name in MNIST_FILES:
            shutil.copy2(source / name, CARRIED_MNIST / name)
    return source


def mib(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default="3.12", help="the GPU machine's Python, X.Y")
    args = parser.parse_args()
    present = image_packages() - ALWAYS_CARRY
    pins = {n: v for n, v in resolve(args.python).items() if normalized(n) not in present}
    download(pins, args.python)
    source = copy_mnist()
    total = mib(CARRY)
    print(f"{len(pins)} wheels for CPython {args.python}: {', '.join(sorted(pins))}")
    print(f"{WHEELS.relative_to(REPO)}: {mib(WHEELS):.1f} MiB")
    print(f"{CARRIED_MNIST.relative_to(REPO)}: {mib(CARRIED_MNIST):.1f} MiB (from {source})")
    print(f"{CARRY.relative_to(REPO)}: {total:.1f} MiB in all; name it in the device call's carry")
    if total > BUDGET_MIB:
        sys.exit(f"{total:.1f} MiB is over the {BUDGET_MIB} MiB this proof allows itself")


if __name__ == "__main__":
    main()
