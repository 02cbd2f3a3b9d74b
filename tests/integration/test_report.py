"""The sweep report, made from real short training runs on real MNIST in a real SQLite store.

    pytest tests/integration/test_report.py -m integration

Jobs are trained with the core (`train_jobs`), and their epochs written with `record_epoch`
as a worker would; the report's numbers are then checked against what the store holds.
"""

from __future__ import annotations

import csv
import re
import subprocess
import sys

import pytest

from db.records import EpochRow
from db.store import Store
from mnistgrid.core.checkpoint import save_checkpoint
from mnistgrid.core.results import MemberEpoch
from mnistgrid.core.training import train_jobs
from mnistgrid.data.datasets import load_task
from mnistgrid.report import report_paths
from mnistgrid.report.confusion import (
    baseline_confusion,
    checkpoint_confusion,
    nearest_mean_confusion,
)
from mnistgrid.report.results_csv import COLUMNS
from mnistgrid.report.write import write_report
from mnistgrid.settings import load_settings
from mnistgrid.spec import DataSpec, JobSpec
from orchestrator.plan import new_job

pytestmark = pytest.mark.integration

WORKER = "report-test:1"
LEASE = 600.0
TEN = DataSpec()
PAIR = DataSpec(digits=(3, 7))


# -- building sweeps the way workers do --------------------------------------------------------


def create(store: Store, name: str, specs: list[JobSpec]) -> tuple[int, dict[str, int]]:
    jobs = [new_job(s) for s in specs]
    sweep = store.create_sweep(name, {"name": name}, f"hash-{name}", jobs)
    ids = {job.key: job.job_id for job in store.sweep_jobs(sweep.sweep_id)}
    return sweep.sweep_id, ids


def train(
    store: Store,
    loader,
    specs: list[JobSpec],
    ids: dict[str, int],
    finish: bool = True,
    epochs_kept: dict[int, list] | None = None,
) -> None:
    """Claim, train as one stack, record every epoch (and checkpoint), finish each job."""
    job_ids = [ids[s.key()] for s in specs]
    for job_id in job_ids:
        assert store.claim_job(job_id, WORKER, LEASE) is not None
    diverged: set[int] = set()

    def on_epoch_end(events: list[MemberEpoch]) -> None:
        for event in events:
            job_id, m = job_ids[event.member], event.metrics
            checkpoint = None
            if event.params and not event.diverged:
                checkpoint = save_checkpoint(m.epoch, event.params)
                if epochs_kept is not None:
                    epochs_kept.setdefault(job_id, []).append((m.epoch, checkpoint))
            row = EpochRow(
                m.epoch, m.train_loss, m.valid_loss, m.valid_acc, m.per_class_acc, m.seconds
            )
            store.record_epoch(job_id, WORKER, row, checkpoint)
            if event.diverged:
                diverged.add(job_id)
                store.finish_job(job_id, "diverged", worker=WORKER)

    train_jobs(specs, loader(specs[0].data), on_epoch_end)
    if finish:
        for job_id in job_ids:
            if job_id not in diverged:
                store.finish_job(job_id, "succeeded", worker=WORKER)


def fail(store: Store, job_id: int, error: str) -> None:
    assert store.claim_job(job_id, WORKER, LEASE) is not None
    store.finish_job(job_id, "failed", worker=WORKER, error=error)


# -- reading the report back ------------------------------------------------------------------


def md_table(markdown: str, first_header: str) -> list[dict[str, str]]:
    """The Markdown table whose first column is `first_header`, as one dict per row."""
    lines = markdown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_header} |"))
    header = [c.strip() for c in lines[start].strip("|").split(" | ")]
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append(
            dict(zip(header, [c.strip() for c in line.strip("|").split(" | ")], strict=True))
        )
    return rows


def job_id_of(cell: str) -> int:
    return int(re.match(r"#(\d+)", cell).group(1))


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def loader(mnist_dir):
    cache = load_settings().cache_dir
    return lambda spec: load_task(mnist_dir, cache, spec)


def ten_digit_specs() -> dict[str, list[JobSpec]]:
    base = {"epochs": 2, "device": "cpu"}
    return {
        "baseline": [JobSpec(model="baseline", distance=d, epochs=1) for d in ("mae", "mse")],
        "linear mnist_loss": [
            JobSpec(model="linear", loss="mnist_loss", lr=lr, **base) for lr in (1.0, 10.0)
        ],
        # Two seeds of lr=1, and lr=1e38, which diverges in its first epoch.
        "linear cross_entropy": [
            JobSpec(model="linear", loss="cross_entropy", lr=lr, seed=seed, **base)
            for lr, seed in ((0.1, 0), (1.0, 0), (1.0, 1), (1e38, 0))
        ],
        "mlp": [JobSpec(model="mlp", loss="cross_entropy", lr=1.0, hidden=32, **base)],
        "failed": [JobSpec(model="mlp", loss="softmax_mse", lr=1.0, hidden=32, **base)],
    }


@pytest.fixture(scope="module")
def ten_digit_sweep(tmp_path_factory, loader):
    folder = tmp_path_factory.mktemp("report")
    store = Store(f"sqlite:///{folder / 'mnistgrid.db'}")
    groups = ten_digit_specs()
    sweep_id, ids = create(store, "ten", [s for specs in groups.values() for s in specs])
    kept: dict[int, list] = {}
    for name, specs in groups.items():
        if name == "failed":
            fail(store, ids[specs[0].key()], "RuntimeError: boom")
        elif name == "baseline":
            train(store, loader, specs, ids)
        else:
            train(store, loader, specs, ids, epochs_kept=kept)
    paths = write_report(store, sweep_id, folder / "reports", load_data=loader)
    yield store, sweep_id, paths, kept
    store.close()


# -- the ten-digit sweep ----------------------------------------------------------------------


def test_writes_every_file(ten_digit_sweep):
    store, sweep_id, paths, _ = ten_digit_sweep
    assert paths == report_paths(paths.dir.parent, "ten", sweep_id)
    assert paths.dir.name == "ten"  # a valid name is its own folder
    for path in (paths.markdown, paths.html, paths.csv):
        assert path.stat().st_size > 0
    pngs = sorted(p.name for p in paths.dir.glob("*.png"))
    assert {
        "headline.png",
        "curves.png",
        "lr_sensitivity.png",
        "losses.png",
        "per_digit.png",
        "confusion.png",
        "cost.png",
    } <= set(pngs)
    for png in pngs:
        assert (paths.dir / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"]({png})" in paths.markdown.read_text()


def test_headline_best_per_family_is_the_stores_best(ten_digit_sweep):
    store, sweep_id, paths, _ = ten_digit_sweep
    jobs = store.sweep_jobs(sweep_id)
    rows = {row["family"]: row for row in md_table(paths.markdown.read_text(), "family")}
    assert list(rows) == ["baseline mae", "baseline mse", "linear", "mlp"]
    for family, row in rows.items():
        members = [
            j
            for j in jobs
            if (f"baseline {j.params['distance']}" if j.model == "baseline" else j.model) == family
        ]
        best = max(j.best_acc for j in members if j.best_acc is not None)
        assert float(row["best accuracy"]) == pytest.approx(best, abs=5e-5)
        job = store.get_job(job_id_of(row["job"]))
        assert job.best_acc == best
        assert int(row["peak epoch"]) == job.best_epoch
    assert rows["baseline mae"]["source post"] == "0.661 (mean per-class)"
    assert rows["linear"]["source post"] == "0.915"
    # Baselines on real MNIST: the posts' mean per-class figures.
    assert float(rows["baseline mae"]["mean per-class accuracy"]) == pytest.approx(0.661, abs=2e-3)
    assert float(rows["baseline mse"]["mean per-class accuracy"]) == pytest.approx(0.817, abs=2e-3)


def test_seed_spread_is_reported(ten_digit_sweep):
    store, sweep_id, paths, _ = ten_digit_sweep
    text = paths.markdown.read_text()
    rows = {row["family"]: row for row in md_table(text, "family")}
    seeds = [
        j.best_acc
        for j in store.sweep_jobs(sweep_id)
        if j.model == "linear" and j.loss == "cross_entropy" and j.lr == 1.0
    ]
    # Two epochs at lr=1 beat lr=0.1 and mnist_loss: the best linear job is one of the pair.
    assert rows["linear"]["configuration"] == "linear cross_entropy lr=1 batch=256"
    assert f"{min(seeds):.4f}-{max(seeds):.4f}, 2 seeds" in rows["linear"]["over seeds"]
    assert "spread over seeds" in text and "the ranges" in text


def test_per_digit_accuracy_is_the_stored_epochs(ten_digit_sweep):
    store, _, paths, _ = ten_digit_sweep
    rows = md_table(paths.markdown.read_text(), "family")
    digit_rows = [
        r for r in md_table(paths.markdown.read_text().split("## Per-digit")[1], "family")
    ]
    assert [r["family"] for r in digit_rows] == [r["family"] for r in rows]
    for row in digit_rows:
        stored = {r.epoch: r for r in store.epochs(job_id_of(row["job"]))}[int(row["epoch"])]
        for digit in range(10):
            assert float(row[f"digit {digit}"]) == pytest.approx(
                stored.per_class_acc[digit], abs=5e-5
            )


def test_csv_has_one_row_per_job_with_the_stores_values(ten_digit_sweep):
    store, sweep_id, paths, _ = ten_digit_sweep
    with paths.csv.open(newline="") as file:
        reader = csv.DictReader(file)
        assert tuple(reader.fieldnames) == COLUMNS
        rows = {int(r["job_id"]): r for r in reader}
    jobs = store.sweep_jobs(sweep_id)
    assert set(rows) == {j.job_id for j in jobs}
    for job in jobs:
        row = rows[job.job_id]
        assert (row["model"], row["status"]) == (job.model, job.status)
        assert row["best_acc"] == ("" if job.best_acc is None else repr(job.best_acc))
        assert row["final_acc"] == ("" if job.final_acc is None else repr(job.final_acc))
        assert row["error"] == (job.error or "")
        if job.model == "baseline":
            assert (row["distance"], row["loss"], row["lr"]) == (job.params["distance"], "", "")
        else:
            assert (row["loss"], float(row["lr"]), int(row["seed"]), int(row["batch_size"])) == (
                job.loss,
                job.lr,
                job.params["seed"],
                job.params["batch_size"],
            )
            assert row["hidden"] == (str(job.params["hidden"]) if job.model == "mlp" else "")


def test_html_is_self_contained(ten_digit_sweep):
    _, _, paths, _ = ten_digit_sweep
    page = paths.html.read_text()
    n_png = len(list(paths.dir.glob("*.png")))
    assert page.count('src="data:image/png;base64,') == n_png
    for reference in re.findall(r'(?:src|href)\s*=\s*["\']([^"\']*)', page):
        assert reference.startswith("data:"), reference
    assert "<link" not in page and "<script" not in page and "@import" not in page
    assert "url(" not in page


def test_failed_and_diverged_jobs_are_listed(ten_digit_sweep):
    store, sweep_id, paths, _ = ten_digit_sweep
    statuses = {j.job_id: j.status for j in store.sweep_jobs(sweep_id)}
    assert sorted(statuses.values()).count("diverged") == 1
    assert list(statuses.values()).count("failed") == 1
    text = paths.markdown.read_text()
    problems = md_table(text.split("## Failed")[1], "job")
    assert {job_id_of(r["job"]): r["status"] for r in problems} == {
        i: s for i, s in statuses.items() if s in ("failed", "diverged")
    }
    assert "RuntimeError: boom" in text
    assert "RuntimeError: boom" in paths.html.read_text()
    assert "lr=1e+38" in text


def test_baseline_confusion_matches_its_stored_accuracy(ten_digit_sweep):
    _, _, paths, _ = ten_digit_sweep
    text = paths.markdown.read_text()
    for family in ("baseline mae", "baseline mse"):
        line = next(line for line in text.splitlines() if line.startswith(f"- {family} "))
        assert "class means recomputed" in line and "agrees with the stored epoch 1" in line


def test_a_baselines_matrix_is_kept_for_the_next_report_per_distance_and_data(loader):
    """A worker keeps each baseline's matrix for its next reports: one per distance and data."""
    kept = {}
    for digits in (None, (3, 7)):
        for distance in ("mae", "mse"):
            spec = JobSpec(model="baseline", distance=distance, data=DataSpec(digits=digits))
            data = loader(spec.data)
            kept[digits, distance] = baseline_confusion(spec, data)
            assert kept[digits, distance] == nearest_mean_confusion(spec, data)
            assert baseline_confusion(spec, data) is kept[digits, distance]
            assert len(kept[digits, distance].classes) == (10 if digits is None else 2)
    assert kept[None, "mae"].counts != kept[None, "mse"].counts


def test_checkpoint_confusion_matches_the_stored_epoch(ten_digit_sweep, loader):
    """Re-evaluating a stored checkpoint gives back that epoch's stored per-class accuracy."""
    store, sweep_id, _, kept = ten_digit_sweep
    job = next(
        j for j in store.sweep_jobs(sweep_id) if j.model == "mlp" and j.status == "succeeded"
    )
    epoch, state = kept[job.job_id][-1]
    spec = JobSpec.model_validate(job.params)
    confusion = checkpoint_confusion(spec, state, loader(spec.data))
    stored = {r.epoch: r for r in store.epochs(job.job_id)}[epoch]
    assert confusion.epoch == epoch
    assert confusion.per_class_acc() == pytest.approx(stored.per_class_acc, abs=1e-6)
    assert sum(map(sum, confusion.counts)) == 10_000


# -- a digit pair, an unfinished sweep, the command line --------------------------------------


def test_digit_pair_sweep(tmp_path, loader):
    store = Store(f"sqlite:///{tmp_path / 'pair.db'}")
    specs = [JobSpec(model="baseline", distance=d, epochs=1, data=PAIR) for d in ("mae", "mse")]
    linear = [
        JobSpec(model="linear", loss="mnist_loss", lr=lr, epochs=2, device="cpu", data=PAIR)
        for lr in (0.1, 1.0)
    ]
    sweep_id, ids = create(store, "pair 3/7", specs + linear)
    train(store, loader, specs, ids)
    train(store, loader, linear, ids)
    paths = write_report(store, sweep_id, tmp_path / "reports", load_data=loader)
    # a name from before the name rule: its safe spelling, and its id (no valid name has an @)
    assert paths.dir.name == f"pair_3_7@{sweep_id}"
    text = paths.markdown.read_text()
    assert "digits 3 against 7" in text
    digit_rows = md_table(text.split("## Per-digit")[1], "family")
    assert [r["family"] for r in digit_rows] == ["baseline mae", "baseline mse", "linear"]
    for row in digit_rows:
        stored = {r.epoch: r for r in store.epochs(job_id_of(row["job"]))}[int(row["epoch"])]
        # Class index 0 is digit 7, index 1 is digit 3 (TrainData.classes == (7, 3)).
        assert float(row["digit 7"]) == pytest.approx(stored.per_class_acc[0], abs=5e-5)
        assert float(row["digit 3"]) == pytest.approx(stored.per_class_acc[1], abs=5e-5)
        assert "digit 0" not in row
    assert "n/a" in md_table(text, "family")[0]["source post"]
    with paths.csv.open() as file:
        assert len(list(csv.DictReader(file))) == 4
    store.close()


def test_unfinished_sweep_says_so(tmp_path, loader):
    store = Store(f"sqlite:///{tmp_path / 'open.db'}")
    done = [
        JobSpec(model="linear", loss="cross_entropy", lr=1.0, epochs=2, device="cpu", data=PAIR)
    ]
    running = JobSpec(
        model="mlp", loss="cross_entropy", lr=1.0, hidden=16, epochs=3, device="cpu", data=PAIR
    )
    queued = JobSpec(model="baseline", distance="mse", epochs=1, data=PAIR)
    sweep_id, ids = create(store, "open", [*done, running, queued])
    train(store, loader, done, ids)
    running_id = ids[running.key()]
    assert store.claim_job(running_id, WORKER, LEASE) is not None
    store.record_epoch(running_id, WORKER, EpochRow(1, 0.3, 0.25, 0.9, (0.88, 0.92), 0.5))
    paths = write_report(store, sweep_id, tmp_path / "reports")
    text = paths.markdown.read_text()
    assert text.splitlines()[2].startswith("> **Note:** this sweep was **not finished**")
    assert "1 running and 1 queued jobs" in text
    waiting = md_table(text.split("### Still running")[1], "job")
    assert {job_id_of(r["job"]): r["status"].split()[0] for r in waiting} == {
        running_id: "**running**",
        ids[queued.key()]: "**queued**",
    }
    assert "not finished" in paths.html.read_text()
    # Without the data (or a checkpoint accessor) the missing matrices are explained.
    assert re.search(r"^- linear \(#\d+\): no matrix, ", text, re.MULTILINE)
    store.close()


def cli_command() -> list[str]:
    """`mnistgrid`, with `report` added when cli.py does not register it yet."""
    from mnistgrid.cli import cli

    if "report" in cli.commands:
        return ["mnistgrid"]
    register = (
        "from mnistgrid.cli import cli, main; "
        "from mnistgrid.cli.commands.report_cmd import report; "
        "cli.add_command(report); main()"
    )
    return [sys.executable, "-c", register]


def test_cli_unknown_sweep_is_one_line_exit_2(tmp_path):
    Store(f"sqlite:///{tmp_path / 'empty.db'}").close()
    result = subprocess.run(
        [
            *cli_command(),
            "report",
            "no-such-sweep",
            "--database-url",
            f"sqlite:///{tmp_path / 'empty.db'}",
            "--out",
            str(tmp_path / "reports"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["error: no sweep 'no-such-sweep'"]
    assert not (tmp_path / "reports").exists()


def test_cli_writes_the_report(ten_digit_sweep, tmp_path, mnist_dir):
    store, sweep_id, _, _ = ten_digit_sweep
    result = subprocess.run(
        [
            *cli_command(),
            "report",
            str(sweep_id),
            "--database-url",
            store.url,
            "--data",
            str(mnist_dir),
            "--out",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    html = tmp_path / "out" / "ten" / "report.html"
    assert str(html) in result.stdout
    assert html.stat().st_size > 0
