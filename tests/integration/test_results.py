"""The results API (mnistgrid/results), `mnistgrid export` and `mnistgrid compare`, against real
SQLite and PostgreSQL stores holding the seeds grid, its ASHA twin and a sweep caught mid-run.

    python -m pytest tests/integration/test_results.py

What they read must agree with the report's results.csv and with the stored rows, NaN and
infinite losses included; parquet and JSONL must come back with their types; nothing is
written when the input is bad.
"""

from __future__ import annotations

import csv
import doctest
import importlib
import json
import math
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from sqlalchemy import text

from db.store import Store
from mnistgrid.report.gather import gather
from mnistgrid.report.results_csv import COLUMNS as RESULTS_CSV_COLUMNS
from mnistgrid.report.summary import family_bests
from mnistgrid.report.write import write_report
from mnistgrid.results import Results
from mnistgrid.results.columns import EPOCH_COLUMNS, JOB_COLUMNS
from mnistgrid.results.compare import compare
from mnistgrid.results.export import arrow_schema, epoch_values, job_values
from mnistgrid.results.frames import DTYPES
from tests.integration.services import mnistgrid_env, run_cli
from tests.integration.twins import TWIN_IDS
from tests.integration.webtools import write_sweep

pytestmark = pytest.mark.integration

DOCTESTED = [
    "mnistgrid.results",
    "mnistgrid.results.reader",
    "mnistgrid.results.compare",
]


@pytest.fixture
def database_url(twins_url: str) -> str:
    """The seeds grid and its ASHA twin, on each backend."""
    return twins_url


@pytest.fixture
def filled(store: Store) -> dict[str, int]:
    """The seeds grid, its ASHA twin, and `live`: a sweep with a job running, one queued, one
    lost, one failed (tests/integration/webtools.py)."""
    seeds, asha = TWIN_IDS
    live = write_sweep(store, "live").sweep_id
    return {"seeds": seeds, "seeds-asha": asha, "live": live}


def same(a: object, b: object) -> bool:
    """Equal, NaN equal to NaN."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def cell(value: str) -> float | None:
    return None if value == "" else float(value)


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def export(env: dict[str, str], *args: str) -> None:
    done = run_cli(env, "export", *args)
    assert done.returncode == 0, done.stderr


def test_the_api_and_the_export_agree_with_results_csv_and_the_stored_rows(
    store: Store, filled: dict[str, int], tmp_path: Path
) -> None:
    env = mnistgrid_env(database_url=store.url)
    results = Results(store)
    for name, sweep_id in filled.items():
        report = read_csv(write_report(store, sweep_id, tmp_path / "reports").csv)
        jobs = results.jobs(name)
        infos = store.sweep_jobs(sweep_id)
        assert [job.job_id for job in jobs] == [int(row["job_id"]) for row in report]
        # the export's jobs: every column of results.csv, spelled the same
        export(env, name, "--out", str(tmp_path / f"{name}.csv"))
        exported = read_csv(tmp_path / f"{name}.csv")
        for row, ours in zip(report, exported, strict=True):
            assert {c: ours[c] for c in RESULTS_CSV_COLUMNS} == row
        # the records: the report's numbers, and the stored row's
        for job, row, info in zip(jobs, report, infos, strict=True):
            for column in ("final_acc", "best_acc", "seconds", "lr"):
                assert getattr(job, column) == cell(row[column]), (name, job.job_id, column)
            assert (job.status, job.worker, job.attempts) == (info.status, info.worker,
                                                              info.attempts)  # fmt: skip
            assert job.epochs_trained == (info.last_epoch or 0)
            if info.status in ("succeeded", "diverged", "stopped"):
                assert (job.best_acc, job.best_epoch) == (info.best_acc, info.best_epoch)
        check_epochs(store, results, env, name, sweep_id, tmp_path)
    # the mid-run sweep: its running job's numbers come from its epochs, as in the report
    running = next(job for job in results.jobs("live") if job.status == "running")
    assert (running.best_acc, running.best_epoch, running.epochs_trained) == (0.7, 1, 1)


def check_epochs(
    store: Store, results: Results, env: dict[str, str], name: str, sweep_id: int, folder: Path
) -> None:
    stored = store.sweep_epochs(sweep_id)
    epochs = results.epochs(name)
    assert [(e.job_id, e.epoch) for e in epochs] == [
        (job_id, row.epoch) for job_id, rows in stored.items() for row in rows
    ]
    rows = {(job_id, row.epoch): row for job_id, found in stored.items() for row in found}
    for epoch in epochs:
        row = rows[epoch.job_id, epoch.epoch]
        for column in ("train_loss", "valid_loss", "valid_acc", "seconds"):
            assert same(getattr(epoch, column), getattr(row, column)), (epoch, column)
        # ten digits: class i is digit i
        assert all(same(a, b) for a, b in zip(epoch.digit_acc, row.per_class_acc, strict=True))
    # NaN and infinite losses: as many as the table's kind columns say, on both backends
    with store.engine.connect() as connection:
        kinds = connection.execute(
            text(
                "SELECT e.train_loss_kind, e.valid_loss_kind FROM epochs e JOIN jobs j "
                "ON j.job_id = e.job_id WHERE j.sweep_id = :s ORDER BY e.job_id, e.epoch"
            ),
            {"s": sweep_id},
        ).all()
    assert [kind(e.train_loss) for e in epochs] == [k[0] for k in kinds]
    assert [kind(e.valid_loss) for e in epochs] == [k[1] for k in kinds]
    # the export's epochs, cell by cell
    export(env, name, "--epochs", "--out", str(folder / f"{name}-epochs.csv"))
    exported = read_csv(folder / f"{name}-epochs.csv")
    assert len(exported) == len(epochs)
    names = [column for column, _ in EPOCH_COLUMNS]
    for row, epoch in zip(exported, epochs, strict=True):
        assert all(
            same(cell(row[column]), None if value is None else float(value))
            for column, value in zip(names, epoch_values(epoch), strict=True)
        ), row


def kind(value: float | None) -> str | None:
    if value is None:
        return None
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return "finite"


def test_the_twins_hold_nan_and_infinite_losses(store: Store, filled: dict[str, int]) -> None:
    """What the agreement above covers: every kind of loss the store can hold."""
    losses = [
        value
        for name in ("seeds", "seeds-asha")
        for e in Results(store).epochs(name)
        for value in (e.train_loss, e.valid_loss)
    ]
    assert {kind(value) for value in losses} == {None, "finite", "nan", "inf"}


def test_parquet_and_jsonl_round_trip_with_their_types(
    store: Store, filled: dict[str, int], tmp_path: Path
) -> None:
    env = mnistgrid_env(database_url=store.url)
    results = Results(store)
    for table, columns, values in (
        ("jobs", JOB_COLUMNS, [job_values(j) for j in results.jobs("seeds-asha")]),
        ("epochs", EPOCH_COLUMNS, [epoch_values(e) for e in results.epochs("seeds-asha")]),
    ):
        names = [name for name, _ in columns]
        expected = [dict(zip(names, row, strict=True)) for row in values]
        flag = ["--epochs"] if table == "epochs" else []

        parquet = tmp_path / f"{table}.parquet"
        export(env, "seeds-asha", *flag, "--format", "parquet", "--out", str(parquet))
        assert pq.read_schema(parquet).equals(arrow_schema(columns))
        back = pq.read_table(parquet).to_pylist()
        assert len(back) == len(expected)
        for got, want in zip(back, expected, strict=True):
            assert all(same(got[n], want[n]) for n in names), (got, want)

        jsonl = tmp_path / f"{table}.jsonl"
        export(env, "seeds-asha", *flag, "--format", "jsonl", "--out", str(jsonl))
        lines = jsonl.read_text().splitlines()
        assert len(lines) == len(expected)
        for line, want in zip(lines, expected, strict=True):
            got = json.loads(line, parse_constant=refuse)  # strict JSON: no NaN, no Infinity
            assert list(got) == names
            for name, column_type in columns:
                assert typed(got[name], column_type), (name, got[name])
                assert same(from_json(got[name]), want[name]), (name, got, want)

    frame = results.jobs_frame("seeds-asha")
    assert {name: str(frame[name].dtype) for name, _ in JOB_COLUMNS} == {
        name: DTYPES[kind] for name, kind in JOB_COLUMNS
    }
    epochs = results.epochs_frame("seeds-asha")
    assert len(epochs) == len(results.epochs("seeds-asha"))
    assert math.isinf(epochs["valid_loss"].max()) and epochs["train_loss"].isna().any()


def refuse(constant: str) -> None:
    raise AssertionError(f"{constant} is not JSON")


def typed(value: object, column_type: str) -> bool:
    if value is None:
        return column_type != "int"
    if column_type in ("int", "int?"):
        return isinstance(value, int) and not isinstance(value, bool)
    if column_type == "float":
        return isinstance(value, float | int) or value in ("nan", "inf", "-inf")
    return isinstance(value, str)


def from_json(value: object) -> object:
    return float(value) if value in ("nan", "inf", "-inf") else value


def test_compare_the_seeds_grid_against_its_asha_twin(
    store: Store, filled: dict[str, int]
) -> None:
    results = Results(store)
    comparison = compare(results, ["seeds", "seeds-asha"])
    full, asha = comparison.sweeps
    assert (full.name, asha.name) == ("seeds", "seeds-asha")
    stored = {name: store.sweep_epochs(filled[name]) for name in ("seeds", "seeds-asha")}
    for totals in comparison.sweeps:
        assert totals.epochs_trained == sum(len(rows) for rows in stored[totals.name].values())
        assert totals.epochs_planned == 2 + 24 * 40  # two baselines, 24 jobs of 40 epochs
    assert asha.epochs_trained < full.epochs_trained and asha.stopped > 0 == full.stopped
    assert comparison.epochs_ratio(1) == full.epochs_trained / asha.epochs_trained
    # each family's best: the one the sweep's own report picks, and the stored best accuracy
    for i, name in enumerate(("seeds", "seeds-asha")):
        report = {b.family: b.job for b in family_bests(gather(store, filled[name]))}
        for row in comparison.families:
            best = row.bests[i]
            assert best is not None and best.job.job_id == report[row.family].job_id
            members = {j.job_id for j in comparison.sweeps[i].jobs if j.family == row.family}
            family = [job for job in store.sweep_jobs(filled[name]) if job.job_id in members]
            assert best.best_acc == max(j.best_acc for j in family if j.best_acc is not None)
            assert best.epochs_trained == sum(j.last_epoch or 0 for j in family)
    for row in comparison.families:
        assert row.acc_gain(1) == pytest.approx(row.bests[1].best_acc - row.bests[0].best_acc)

    done = run_cli(mnistgrid_env(database_url=store.url), "compare", "seeds", "seeds-asha")
    assert done.returncode == 0, done.stderr
    for fragment in ("baseline mae", "linear", "mlp", "seeds-asha", "x fewer", "asha"):
        assert fragment in done.stdout, fragment
    linear = next(row for row in comparison.families if row.family == "linear")
    assert f"{linear.bests[1].best_acc:.4f}" in done.stdout


def test_a_sweep_is_read_a_page_at_a_time_in_order(store: Store, filled: dict[str, int]) -> None:
    """Pages of 7 rows (and of 3 jobs) give what one read gives, never another sweep's rows,
    which sit on both sides of the seeds-asha sweep's ids."""
    for name, sweep_id in filled.items():
        pages = list(store.scan_epochs(sweep_id, page=7))
        assert all(len(page) <= 7 for page in pages)
        got = [(j, r) for page in pages for j, r in zip(page.job_ids, page.rows, strict=True)]
        assert got == [(j, r) for j, rows in store.sweep_epochs(sweep_id).items() for r in rows]
        jobs = [job for page in store.scan_jobs(sweep_id, page=3) for job in page]
        assert jobs == store.sweep_jobs(sweep_id), name


def test_bad_input_is_one_line_exit_2_and_nothing_written(
    database_url: str, filled: dict[str, int], tmp_path: Path
) -> None:
    env = mnistgrid_env(database_url=database_url)
    out = tmp_path / "out.csv"
    no_pyarrow = tmp_path / "no-pyarrow"
    (no_pyarrow / "pyarrow").mkdir(parents=True)
    (no_pyarrow / "pyarrow" / "__init__.py").write_text("raise ImportError('not here')\n")
    cases = [
        (env, ["export", "nope", "--out", str(out)], "no sweep 'nope'"),
        (env, ["export", "seeds", "--format", "xml", "--out", str(out)], "unknown format 'xml'"),
        (env, ["export", "seeds", "--out", str(tmp_path / "no" / "x.csv")], "no folder"),
        (
            {**env, "PYTHONPATH": str(no_pyarrow)},
            ["export", "seeds", "--format", "parquet", "--out", str(out)],
            "pip install 'mnistgrid[parquet]'",
        ),
        (
            mnistgrid_env(database_url=f"sqlite:///{tmp_path / 'typo.db'}"),
            ["export", "seeds", "--out", str(out)],
            "no database at",
        ),
        (env, ["compare", "seeds"], "two sweeps or more"),
        (env, ["compare", "seeds", "nope"], "no sweep 'nope'"),
        (env, ["compare", "seeds", str(filled["seeds"])], "named twice"),
    ]
    for case_env, args, fragment in cases:
        done = run_cli(case_env, *args)
        assert done.returncode == 2, (args, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], args
        assert done.stdout == "", args
        assert not out.exists() and not (tmp_path / "typo.db").exists(), args
        assert not list(tmp_path.glob(".out.csv.*")), args


def test_the_records_need_no_pandas(
    database_url: str, filled: dict[str, int], tmp_path: Path
) -> None:
    shim = tmp_path / "no-pandas"
    (shim / "pandas").mkdir(parents=True)
    (shim / "pandas" / "__init__.py").write_text("raise ImportError('not here')\n")
    probe = (
        "import sys\n"
        "from mnistgrid.results import Results\n"
        "from mnistgrid.errors import BadInput\n"
        f"results = Results({database_url!r})\n"
        "print(len(results.jobs('seeds')), len(results.epochs('seeds')))\n"
        "try:\n    results.jobs_frame('seeds')\nexcept BadInput as error:\n    print(error)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        env={**mnistgrid_env(), "PYTHONPATH": str(shim)},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    counts, message = done.stdout.splitlines()
    assert counts.split()[0] == "26"
    assert message == "pandas is not installed: pip install 'mnistgrid[pandas]'"


@pytest.mark.parametrize("twins_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("module", DOCTESTED)
def test_the_docstring_examples_run(twins_url: str, module: str) -> None:
    """The examples in the API's docstrings, on a SQLite store holding the two sweeps."""
    url = twins_url
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    # Each docstring's examples start from `url` and the names the package's own example
    # imports (mnistgrid/results/__init__.py).
    globs = {"url": url, "Results": Results}
    tests = finder.find(importlib.import_module(module), globs=globs)
    assert sum(len(t.examples) for t in tests) > 0
    for test in tests:
        runner.run(test)
    assert runner.failures == 0, f"{runner.failures} failing examples in {module} (see above)"
