"""Bad grids and arguments: one line, exit code 2, and nothing written or queued."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import redis

from db.migrate import upgrade
from db.store import Store
from tests.integration.services import mnistgrid_env, private_redis_db, run_cli

pytestmark = pytest.mark.integration

BAD_GRIDS = sorted((Path(__file__).parents[1] / "grids" / "bad").glob("*.toml"))


@pytest.fixture(scope="module")
def redis_url():
    with private_redis_db() as url:
        yield url


def fifo(path: Path) -> Path:
    os.mkfifo(path)  # nobody writes to it: reading it would block forever
    return path


def huge(path: Path) -> Path:
    path.write_text("# padding\n" * 120_000 + '[grid]\nmodel = "linear"\n')
    return path


def assert_refused(done, *fragments: str) -> None:
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def assert_untouched(db_file: Path, redis_url: str) -> None:
    assert not db_file.exists(), "the database was created"
    assert redis.Redis.from_url(redis_url).dbsize() == 0, "something was queued"


def test_the_corpus_is_large_enough():
    assert len(BAD_GRIDS) >= 25


@pytest.mark.parametrize("grid", BAD_GRIDS, ids=lambda p: p.stem)
def test_a_bad_grid_is_refused_and_nothing_is_written(grid, tmp_path, redis_url):
    db_file = tmp_path / "store.db"
    env = mnistgrid_env(database_url=f"sqlite:///{db_file}", broker_url=redis_url)
    assert_refused(run_cli(env, "submit", str(grid)))
    assert_untouched(db_file, redis_url)


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (lambda d: d, "is a directory"),
        (lambda d: d / "missing.toml", "no such grid file"),
        # Read, these would never end (or fill the memory): refused before a byte is read.
        (lambda d: Path("/dev/zero"), "not a regular file"),
        (lambda d: Path("/dev/urandom"), "not a regular file"),
        (lambda d: fifo(d / "grid.fifo"), "not a regular file"),
        (lambda d: huge(d / "huge.toml"), "a grid file is at most 1 MiB"),
    ],
    ids=["directory", "missing", "dev-zero", "dev-urandom", "fifo", "over-1-MiB"],
)
def test_a_grid_path_that_is_not_a_file(tmp_path, redis_url, make, fragment):
    db_file = tmp_path / "store.db"
    env = mnistgrid_env(database_url=f"sqlite:///{db_file}", broker_url=redis_url)
    assert_refused(run_cli(env, "submit", str(make(tmp_path))), fragment)
    assert_untouched(db_file, redis_url)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["submit"], "Missing argument"),
        (["worker", "--concurrency", "0"], "--concurrency"),
        (["worker", "--gpus", "a,b"], "--gpus"),
        (["train", "--lr", "-1"], "--lr"),
        (["train", "--model", "cnn"], "'cnn' is not one of"),
        (["train", "--batch-size", "lots"], "'lots' is not a valid integer"),
        (["status", "--database-url", "nosuchdb://x"], "database"),
        (["frobnicate"], "No such command"),
    ],
)
def test_bad_arguments_get_one_clear_line(tmp_path, redis_url, args, fragment):
    env = mnistgrid_env(database_url=f"sqlite:///{tmp_path / 'store.db'}", broker_url=redis_url)
    done = run_cli(env, *args)
    assert done.returncode == 2, done.stderr
    assert fragment in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("command", [["status"], ["sweeps"], ["watch", "x"], ["report", "x"]])
def test_reading_a_database_that_is_not_there_creates_none(tmp_path, redis_url, command):
    db_file = tmp_path / "typo.db"
    env = mnistgrid_env(database_url=f"sqlite:///{db_file}", broker_url=redis_url)
    assert_refused(run_cli(env, *command), f"no database at {db_file}")
    assert_untouched(db_file, redis_url)


@pytest.mark.parametrize("database", ["none yet", "in use"])
def test_an_unreachable_broker_writes_nothing(tmp_path, database):
    grid = tmp_path / "ok.toml"
    grid.write_text('[grid]\nmodel = "baseline"\n')
    db_file = tmp_path / "store.db"
    url = f"sqlite:///{db_file}"
    if database == "in use":
        upgrade(url)
    env = mnistgrid_env(database_url=url, broker_url="redis://127.0.0.1:1/0")
    done = run_cli(env, "submit", str(grid))
    assert done.returncode == 1 and "cannot reach the broker" in done.stderr
    if database == "none yet":
        assert not db_file.exists(), "the database was created"
    else:
        with Store(url) as store:
            assert store.list_sweeps() == []


BIG = "99999999999999999999999"


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["rerun", "--", BIG], f"no job {BIG}"),
        (["rerun", "2147483648"], "no job 2147483648"),
        (["status", BIG], f"no sweep '{BIG}'"),
        (["status", "²"], "no sweep '²'"),
        (["watch", BIG], f"no sweep '{BIG}'"),
        (["cancel", "a\tb"], "no sweep 'a\\tb'"),
        (["resume", "2147483648"], "no sweep '2147483648'"),
        (["report", BIG], f"no sweep '{BIG}'"),
    ],
)
def test_an_id_or_name_no_sweep_or_job_can_have_is_not_found(
    database_url, redis_url, args, fragment
):
    """Never a database error: numbers beyond the INTEGER keys, non-ASCII digits, control
    characters (on PostgreSQL too, where psycopg refuses such numbers)."""
    env = mnistgrid_env(database_url=database_url, broker_url=redis_url)
    assert_refused(run_cli(env, *args), fragment)
