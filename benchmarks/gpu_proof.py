"""The GPU proof: on a bare GPU machine, install, test, sweep and measure in one bounded run.

On a GPU machine (first, here: `python -m benchmarks.gpu_carry` fills .gpu-proof/):

    PYTHONUNBUFFERED=1 python3 -m benchmarks.gpu_proof --device cuda

The CPU rehearsal, here and in CI (tests/integration/test_gpu_proof.py):

    python -m benchmarks.gpu_proof --device cpu --quick --out gpu-proof-out

The device tool's call for a GPU session (nothing else to prepare on that machine):

    command:   PYTHONUNBUFFERED=1 python3 -m benchmarks.gpu_proof --device cuda
    carry:     [".gpu-proof"]
    timeout_s: 540

Steps, each under its own time bound (together 490 s, so the run ends inside 9 minutes):
- machine: what torch sees (on a GPU run, a usable GPU);
- dependencies: installs the carried wheels into a folder of their own, only when something
  mnistgrid needs is missing (nothing is, in a developer's .venv);
- tests: tests/unit/test_cuda.py, its CUDA cases required (not skipped) on a GPU run;
- sweep: a real grid through `mnistgrid worker` processes (`--gpus 0` on a GPU run) on the
  serverless broker and SQLite, every epoch checked to be stored from cuda:0 (or cpu);
- bench: benchmarks/bench_core.py, the posts' loop on this machine's CPU as the reference;
- compile: benchmarks/bench_compile.py, the fused step under `torch.compile` (on a GPU
  `mode="reduce-overhead"`, CUDA graphs) against eager at stacks of 64 and 256: whether it pays.
A failed step is FAILED in the table and the next one runs all the same; the exit code is 1
when any failed. `--only tests,bench` reruns some of the last four (the first two always run).
Writes gpu_proof.log and gpu_proof_table.md to --out (default: $OUT when set, else
gpu-proof-out/) and prints the table last.

Only the standard library and `packaging` are imported here: this runs before mnistgrid's own
dependencies are installed.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CARRY = REPO / ".gpu-proof"  # filled by benchmarks/gpu_carry.py, ignored by git
WHEELS = CARRY / "wheels"
CARRIED_MNIST = CARRY / "mnist"
MNIST_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
# Seconds each step may take; they add up to 490, inside the 540 the device call is given.
BOUNDS = {
    "machine": 30,
    "dependencies": 60,
    "tests": 90,
    "sweep": 100,
    "bench": 120,
    "compile": 90,
}
CHOSEN = ("tests", "sweep", "bench", "compile")  # what --only picks from; the others always run
FAILED_TAIL_LINES = 25
NO_MNIST = "no MNIST: set MNISTGRID_DATA_DIR, or run `python -m benchmarks.gpu_carry` first"


@dataclass(frozen=True)
class Settings:
    """What one run does: the device, and how much of each step."""

    device: str
    quick: bool
    out: Path
    data: Path | None
    steps: tuple[str, ...]

    @property
    def expected_device(self) -> str:
        return "cuda:0" if self.device == "cuda" else "cpu"

    @property
    def epochs(self) -> int:
        return 2 if self.quick else 3

    @property
    def bench_epochs(self) -> int:
        return 1 if self.quick else 2

    @property
    def stacks(self) -> str:
        return "1,4" if self.quick else "1,16,64,256"


@dataclass
class Step:
    name: str
    ok: bool = False
    seconds: float = 0.0
    summary: str = ""


@dataclass
class Proof:
    """The run's log, its environment for child processes, and the steps' results."""

    settings: Settings
    log_file: Path
    work: Path
    env: dict[str, str]
    steps: list[Step] = field(default_factory=list)
    facts: dict[str, str] = field(default_factory=dict)
    bench_table: list[str] = field(default_factory=list)
    compile_table: list[str] = field(default_factory=list)

    def log(self, text: str) -> None:
        with self.log_file.open("a") as log:
            log.write(text if text.endswith("\n") else text + "\n")


class StepFailed(Exception):
    """A step's check did not hold: the message is the table's summary."""


# --- running things under a bound -----------------------------------------------------------


def run_bounded(
    proof: Proof, argv: list[str], timeout: float, env: dict[str, str] | None = None
) -> tuple[int | None, str]:
    """Run argv in its own process group, logging its output; None as the code on timeout (the
    whole group is killed, workers' children too)."""
    proof.log(f"$ {' '.join(argv)}")
    with tempfile.TemporaryFile("w+") as output:
        process = subprocess.Popen(
            argv,
            cwd=REPO,
            env=env or proof.env,
            stdout=output,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        try:
            code: int | None = process.wait(timeout=max(timeout, 1))
        except subprocess.TimeoutExpired:
            kill_group(process)
            code = None
        output.seek(0)
        text = output.read()
    proof.log(text)
    proof.log(f"(exit {code if code is not None else f'timeout after {timeout:.0f} s'})")
    return code, text


def kill_group(process: subprocess.Popen) -> None:
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def check_ran(code: int | None, text: str, what: str) -> str:
    if code is None:
        raise StepFailed(f"{what} ran past its time bound")
    if code != 0:
        raise StepFailed(f"{what} exited {code}: {last_line(text)}")
    return text


def last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1][:160] if lines else "no output"


def run_step(proof: Proof, name: str, body: Callable[[Proof, float], str]) -> None:
    step = Step(name)
    proof.steps.append(step)
    print(f"== {name} (at most {BOUNDS[name]} s)", flush=True)
    proof.log(f"\n===== {name} =====")
    start = time.monotonic()
    try:
        step.summary = body(proof, BOUNDS[name])
        step.ok = True
    except StepFailed as failure:
        step.summary = str(failure)
    except Exception as error:  # noqa: BLE001 - one broken step must not cost the others
        step.summary = f"{type(error).__name__}: {error}"
    step.seconds = time.monotonic() - start
    verdict = "PASS" if step.ok else "FAILED"
    proof.log(f"----- {name}: {verdict} in {step.seconds:.1f} s: {step.summary}")
    print(f"   {verdict} in {step.seconds:.1f} s: {step.summary}", flush=True)


def python(*args: str) -> list[str]:
    return [sys.executable, *args]


# --- machine --------------------------------------------------------------------------------

MACHINE_PROBE = """
import json, os, platform, torch
cuda = torch.cuda.is_available()
print(json.dumps({
    "python": platform.python_version(),
    "torch": torch.__version__,
    "cuda": torch.version.cuda or "none",
    "cuda available": cuda,
    "gpu": torch.cuda.get_device_name(0) if cuda else "none",
    "gpus": torch.cuda.device_count() if cuda else 0,
    "tf32 matmul": torch.backends.cuda.matmul.allow_tf32,
    "cpu cores": os.cpu_count(),
}))
"""


def machine(proof: Proof, bound: float) -> str:
    """What torch sees here; on a GPU run, a GPU it can use or nothing else is worth running."""
    if proof.settings.device == "cuda" and shutil.which("nvidia-smi"):
        run_bounded(proof, ["nvidia-smi"], 10)
    code, text = run_bounded(proof, python("-c", MACHINE_PROBE), bound - 10)
    seen = json.loads(check_ran(code, text, "the torch probe").strip().splitlines()[-1])
    proof.facts.update({k: str(v) for k, v in seen.items()})
    proof.facts["cpu"] = cpu_name()
    if proof.settings.device == "cuda" and not seen["cuda available"]:
        raise StepFailed(f"torch {seen['torch']} sees no CUDA device")
    return f"python {seen['python']}, torch {seen['torch']}, gpu {seen['gpu']}"


def cpu_name() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


# --- dependencies ---------------------------------------------------------------------------


def mnistgrid_requirements() -> list[str]:
    """What mnistgrid and its tests import, from pyproject.toml: torch is the machine's own."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    dev = project["optional-dependencies"]["dev"]
    wanted = project["dependencies"] + [r for r in dev if r.startswith("pytest")]
    return [r for r in wanted if not re.match(r"torch\b", r)]


def unmet_requirements(requirements: Iterable[str], paths: list[str]) -> list[str]:
    """Requirements, and theirs in turn, that the distributions on `paths` do not meet."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    installed: dict[str, importlib.metadata.Distribution] = {}
    for dist in importlib.metadata.distributions(path=paths):
        name = dist.metadata["Name"]
        if name:  # the first on the path wins, as it does for imports
            installed.setdefault(canonicalize_name(name), dist)
    unmet: set[str] = set()
    seen: set[tuple[str, frozenset[str]]] = set()
    todo = [(Requirement(r), frozenset[str]()) for r in requirements]
    while todo:
        req, extras = todo.pop()
        if req.marker and not any(req.marker.evaluate({"extra": e}) for e in extras or {""}):
            continue
        name = canonicalize_name(req.name)
        dist = installed.get(name)
        if dist is None or not req.specifier.contains(dist.version, prereleases=True):
            unmet.add(f"{req.name}{req.specifier} (found {dist.version if dist else 'none'})")
        elif (name, frozenset(req.extras)) not in seen:
            seen.add((name, frozenset(req.extras)))
            todo += [(Requirement(r), frozenset(req.extras)) for r in dist.requires or []]
    return sorted(unmet)


def dependencies(proof: Proof, bound: float) -> str:
    """Install the carried wheels into a folder of their own, only if something is missing."""
    site = proof.work / "site"
    needed = mnistgrid_requirements()
    missing = unmet_requirements(needed, sys.path)
    if not missing:
        return "all installed already: nothing to do"
    proof.log("missing: " + ", ".join(missing))
    wheels = sorted(WHEELS.glob("*.whl"))
    if not wheels:
        raise StepFailed(
            f"{len(missing)} missing, no wheels: run `python -m benchmarks.gpu_carry`"
        )
    install = ["-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile"]
    install += ["--no-cache-dir", "--target", str(site), *map(str, wheels)]
    check_ran(*run_bounded(proof, python(*install), bound - 5), "pip install")
    proof.env["PYTHONPATH"] = os.pathsep.join([proof.env["PYTHONPATH"], str(site)])
    still = unmet_requirements(needed, [str(site), *sys.path])
    if still:
        raise StepFailed("still missing after the install: " + ", ".join(still))
    return f"installed {len(wheels)} carried wheels for {len(missing)} missing requirements"


# --- tests ----------------------------------------------------------------------------------


def cuda_tests(proof: Proof, bound: float) -> str:
    """tests/unit/test_cuda.py; on a GPU its CUDA cases must run, not skip."""
    env = dict(proof.env)
    if proof.settings.device == "cuda":
        env["MNISTGRID_TEST_REQUIRE_CUDA"] = "1"
    argv = python("-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "cuda")
    code, text = run_bounded(proof, [*argv, "tests/unit/test_cuda.py"], bound, env)
    check_ran(code, text, "pytest")
    counts = last_line(text)
    if proof.settings.device == "cuda" and "skipped" in counts:
        raise StepFailed(f"CUDA cases skipped on a GPU run: {counts}")
    return counts


# --- sweep ----------------------------------------------------------------------------------


def grid_text(settings: Settings) -> str:
    lrs, seeds = ("[0.3, 1.0]", "[0]") if settings.quick else ("[0.3, 1.0, 3.0]", "[0, 1]")
    return f"""name = "gpu-proof"
fuse = true

[train]
epochs = {settings.epochs}
device = "{settings.device}"
time_limit = 600

[grid]
model = ["baseline", "linear", "mlp"]
distance = ["mse"]
loss = ["cross_entropy"]
lr = {lrs}
hidden = [64]
seed = {seeds}
"""


def sweep_env(proof: Proof, folder: Path) -> dict[str, str]:
    env = dict(proof.env)
    env.update(
        MNISTGRID_DATABASE_URL=f"sqlite:///{folder / 'mnistgrid.db'}",
        MNISTGRID_BROKER_URL=f"filesystem://{folder / 'broker'}",
        MNISTGRID_REPORTS_DIR=str(folder / "reports"),
    )
    return env


def worker_argv(device: str) -> list[str]:
    if device == "cuda":
        return python("-m", "mnistgrid.cli", "worker", "--queues", "gpu", "--gpus", "0")
    return python("-m", "mnistgrid.cli", "worker", "--queues", "cpu", "--concurrency", "1")


def sweep(proof: Proof, bound: float) -> str:
    """A real grid through real worker processes; the store says where every epoch trained."""
    if proof.settings.data is None:
        raise StepFailed(NO_MNIST)
    deadline = time.monotonic() + bound - 35  # leaves the workers 30 s to stop
    folder = proof.work / "sweep"
    folder.mkdir()
    (folder / "grid.toml").write_text(grid_text(proof.settings))
    env = sweep_env(proof, folder)
    upgrade = python("-m", "mnistgrid.cli", "db", "upgrade")
    check_ran(*run_bounded(proof, upgrade, 30, env), "mnistgrid db upgrade")
    worker_log = folder / "worker.log"
    worker = start_worker(proof.settings.device, env, worker_log)
    try:
        submit = python("-m", "mnistgrid.cli", "submit", str(folder / "grid.toml"), "--wait")
        submitted = run_bounded(proof, submit, deadline - time.monotonic(), env)
    finally:
        stopped = stop_worker(worker)
        proof.log(f"--- worker log ({' '.join(worker.args)})\n" + worker_log.read_text())
    # The store says better than submit's last line what went wrong: check it first.
    stored = check_store(folder / "mnistgrid.db", proof.settings.expected_device)
    check_ran(*submitted, "mnistgrid submit --wait")
    if not stopped:
        raise StepFailed(f"{stored}; but the worker did not stop on SIGTERM")
    return f"{stored}; worker stopped on SIGTERM"


def start_worker(device: str, env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("w") as out:
        return subprocess.Popen(
            worker_argv(device),
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop_worker(worker: subprocess.Popen, patience: float = 30) -> bool:
    """SIGTERM to the main process alone, as `docker stop` does: a warm shutdown. True when it
    exited cleanly within `patience`; otherwise its whole group is killed."""
    worker.send_signal(signal.SIGTERM)
    try:
        code = worker.wait(timeout=patience)
    except subprocess.TimeoutExpired:
        kill_group(worker)
        return False
    kill_group(worker)  # anything its children left behind
    return code == 0


def check_store(db: Path, device: str) -> str:
    """Every job succeeded with all its epochs, each stored from `device`; the sweep finished."""
    with sqlite3.connect(db) as connection:
        sweeps = connection.execute("SELECT status FROM sweeps").fetchall()
        jobs = connection.execute(
            "SELECT j.job_id, j.status, j.error, j.device, j.params, j.run_info,"
            " count(e.epoch_id) FROM jobs j LEFT JOIN epochs e USING (job_id) GROUP BY j.job_id"
        ).fetchall()
    if [status for (status,) in sweeps] != ["finished"]:
        raise StepFailed(f"the sweep is {sweeps[0][0] if sweeps else 'not there'}, not finished")
    names = set()
    for job_id, job_status, error, job_device, params, run_info, n_epochs in jobs:
        spec = json.loads(params)
        expected = 1 if spec["model"] == "baseline" else spec["epochs"]
        if job_status != "succeeded" or n_epochs != expected:
            why = f": {last_line(error)}" if error else ""
            raise StepFailed(f"job {job_id} {job_status}, {n_epochs} of {expected} epochs{why}")
        if job_device != device:
            raise StepFailed(f"job {job_id} trained on {job_device}, not {device}")
        names.add(json.loads(run_info)["device_name"])
    n_epochs = sum(row[-1] for row in jobs)
    where = device if names == {device} else f"{device} ({', '.join(sorted(names))})"
    return f"{len(jobs)} jobs, {n_epochs} epochs, every one stored from {where}"


# --- bench ----------------------------------------------------------------------------------


def bench(proof: Proof, bound: float) -> str:
    """bench_core.py: the posts' loop on this CPU (torch's threads: one per core, or one in
    the quick rehearsal), the core and its stacks on the device."""
    settings = proof.settings
    if settings.data is None:
        raise StepFailed(NO_MNIST)
    threads = 1 if settings.quick else os.cpu_count() or 1
    argv = ["benchmarks/bench_core.py", "--device", settings.device, "--models", "linear,mlp"]
    argv += ["--stacks", settings.stacks, "--epochs", str(settings.bench_epochs)]
    argv += ["--threads", str(threads)]
    code, text = run_bounded(proof, python(*argv), bound)
    check_ran(code, text, "bench_core.py")
    proof.bench_table = ["python " + " ".join(argv), *bench_rows(text)]
    best = max(bench_ratios(text), default=0.0)
    return f"best ratio to the posts' loop on this CPU: {best:.1f}x"


def compile_bench(proof: Proof, bound: float) -> str:
    """bench_compile.py: the fused step compiled against eager (a stack of 4, linear, in the
    quick rehearsal)."""
    settings = proof.settings
    if settings.data is None:
        raise StepFailed(NO_MNIST)
    stacks = "4" if settings.quick else "64,256"
    argv = ["benchmarks/bench_compile.py", "--device", settings.device, "--stacks", stacks]
    argv += ["--models", "linear" if settings.quick else "linear,mlp"]
    code, text = run_bounded(proof, python(*argv), bound)
    check_ran(code, text, "bench_compile.py")
    rows = bench_rows(text)
    proof.compile_table = ["python " + " ".join(argv), *rows]
    ratios = [f"{row.split()[0]} x{row.split()[1]} {row.split()[-2]}x" for row in rows[2:]]
    return "compiled against eager: " + ", ".join(ratios)


def bench_rows(text: str) -> list[str]:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("torch "))
    return lines[start:]


def bench_ratios(text: str) -> list[float]:
    rows = bench_rows(text)[2:]
    return [float(row.split()[-2]) for row in rows if len(row.split()) >= 6]


# --- the table ------------------------------------------------------------------------------


def table(proof: Proof) -> str:
    facts, settings = proof.facts, proof.settings
    failed = [s.name for s in proof.steps if not s.ok]
    lines = [
        f"# GPU proof, --device {settings.device}{' --quick' if settings.quick else ''}",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; "
        f"gpu: {facts.get('gpu', '?')}; cpu: {facts.get('cpu', '?')}, "
        f"{facts.get('cpu cores', '?')} cores; python {facts.get('python', '?')}, "
        f"torch {facts.get('torch', '?')} (CUDA {facts.get('cuda', '?')}, "
        f"TF32 matmul {facts.get('tf32 matmul', '?')})",
        "",
        "| step | result | seconds | what |",
        "| --- | --- | --- | --- |",
    ]
    for step in proof.steps:
        verdict = "PASS" if step.ok else "FAILED"
        cell = step.summary.replace("|", "/")
        lines.append(f"| {step.name} | {verdict} | {step.seconds:.1f} | {cell} |")
    for rows in (proof.bench_table, proof.compile_table):
        if rows:
            lines += ["", "```", *rows, "```"]
    verdict = "PASS" if not failed else "FAILED: " + ", ".join(failed)
    lines += ["", f"result: {verdict} ({len(proof.steps) - len(failed)} of {len(proof.steps)})"]
    return "\n".join(lines) + "\n"


def failed_tails(proof: Proof) -> str:
    """The end of the log of each failed step, for a reader who only sees the console."""
    text = proof.log_file.read_text()
    parts = []
    for step in (s for s in proof.steps if not s.ok):
        section = text.split(f"===== {step.name} =====", 1)[-1].split("\n===== ", 1)[0]
        tail = section.strip().splitlines()[-FAILED_TAIL_LINES:]
        parts.append(f"--- last lines of {step.name}:\n" + "\n".join(tail))
    return "\n".join(parts)


# --- the run --------------------------------------------------------------------------------

STEPS: list[tuple[str, Callable[[Proof, float], str]]] = [
    ("machine", machine),
    ("dependencies", dependencies),
    ("tests", cuda_tests),
    ("sweep", sweep),
    ("bench", bench),
    ("compile", compile_bench),
]


def find_mnist(given: str | None) -> Path | None:
    candidates = [given, os.environ.get("MNISTGRID_DATA_DIR"), CARRIED_MNIST]
    candidates.append(REPO.parent / "shared" / "data" / "mnist")
    for candidate in filter(None, candidates):
        folder = Path(candidate).resolve()
        if all((folder / name).exists() for name in MNIST_FILES):
            return folder
    return None


def child_env(data: Path | None, work: Path) -> dict[str, str]:
    """This environment, with mnistgrid importable from this tree whether installed or not."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    # Decoded MNIST starts from nothing, as on a lent machine, and in a folder surely writable.
    env["MNISTGRID_CACHE_DIR"] = str(work / "cache")
    if data is not None:
        env["MNISTGRID_DATA_DIR"] = str(data)
    return env


def parse_args(argv: list[str] | None) -> Settings:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    parser.add_argument("--quick", action="store_true", help="short settings: the rehearsal")
    parser.add_argument("--out", help="output folder [default: $OUT, else gpu-proof-out]")
    parser.add_argument("--only", help=f"some of {','.join(CHOSEN)} [default: all]")
    parser.add_argument(
        "--data",
        help="MNIST idx .gz folder [default: MNISTGRID_DATA_DIR, "
        ".gpu-proof/mnist, ../shared/data/mnist]",
    )
    args = parser.parse_args(argv)
    out = Path(args.out or os.environ.get("OUT") or REPO / "gpu-proof-out").resolve()
    chosen = tuple(args.only.split(",")) if args.only else CHOSEN
    if unknown := set(chosen) - set(CHOSEN):
        parser.error(f"--only: no step {', '.join(sorted(unknown))}, only {', '.join(CHOSEN)}")
    steps = ("machine", "dependencies", *chosen)
    return Settings(args.device, args.quick, out, find_mnist(args.data), steps)


def main(argv: list[str] | None = None) -> int:
    settings = parse_args(argv)
    settings.out.mkdir(parents=True, exist_ok=True)
    log_file = settings.out / "gpu_proof.log"
    log_file.write_text("")
    with tempfile.TemporaryDirectory(prefix="gpu-proof-") as work:
        proof = Proof(settings, log_file, Path(work), child_env(settings.data, Path(work)))
        proof.log(f"gpu_proof {' '.join(sys.argv[1:])}; MNIST from {settings.data}")
        for name, body in STEPS:
            if name in settings.steps:
                run_step(proof, name, body)
    tails = failed_tails(proof)
    summary = table(proof)
    (settings.out / "gpu_proof_table.md").write_text(summary)
    proof.log("\n" + summary)
    print(f"\n{tails}\n" if tails else "", flush=True)
    print(f"log: {log_file}\n\n{summary}", end="", flush=True)
    return 0 if all(step.ok for step in proof.steps) else 1


if __name__ == "__main__":
    sys.exit(main())
