"""Sweep names: one rule at every door (a grid file's `name`, `--name`, the file's stem, the
`NAME-2` of `--new`), on SQLite and PostgreSQL alike; and names stored before the rule, which
keep working everywhere.

    python -m pytest tests/integration/test_sweep_names.py
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import httpx
import pytest
import redis

from db.store import Store
from mnistgrid.report.write import write_report
from mnistgrid.settings import Settings
from mnistgrid.spec import JobSpec
from orchestrator.plan import new_job
from tests.integration.services import mnistgrid_env, private_redis_db, run_cli
from tests.integration.webtools import web_server

pytestmark = pytest.mark.integration

BASELINE = '[grid]\nmodel = "baseline"\n'
BAD_NAMES = {
    "too-long": "x" * 201,
    "space": "a b",
    "slash": "a/b",
    "dot-first": ".hidden",
    "dash-first": "-x",
    "all-digits": "123",
    "empty": "",
    "non-ascii": "résumé",
}


@pytest.fixture(scope="module")
def redis_url():
    with private_redis_db() as url:
        yield url


@pytest.fixture
def env(database_url: str, redis_url: str) -> dict[str, str]:
    redis.Redis.from_url(redis_url).flushdb()
    return mnistgrid_env(database_url=database_url, broker_url=redis_url)


def grid_file(folder: Path, text: str = BASELINE, stem: str = "grid") -> Path:
    path = folder / f"{stem}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def assert_refused(done, fragment: str) -> None:
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert fragment in lines[0], lines[0]


def assert_nothing_written(database_url: str, redis_url: str) -> None:
    assert Store(database_url).list_sweeps() == []
    assert redis.Redis.from_url(redis_url).dbsize() == 0, "something was queued"


@pytest.mark.parametrize("name", [*BAD_NAMES.values(), "a\x00b"], ids=[*BAD_NAMES, "nul"])
def test_a_bad_name_in_the_grid_file_is_one_line(env, database_url, redis_url, tmp_path, name):
    grid = grid_file(tmp_path, f"name = {json.dumps(name)}\n" + BASELINE)
    assert_refused(run_cli(env, "submit", str(grid)), f"{grid}: name: ")
    assert_nothing_written(database_url, redis_url)


@pytest.mark.parametrize("name", BAD_NAMES.values(), ids=BAD_NAMES)
def test_a_bad_name_option_is_one_line(env, database_url, redis_url, tmp_path, name):
    done = run_cli(env, "submit", str(grid_file(tmp_path)), "--name", name)
    assert_refused(done, "--name: ")
    assert_nothing_written(database_url, redis_url)


@pytest.mark.parametrize(
    ("stem", "name"),
    [
        ("my grid (v2)", "my_grid_v2"),
        ("2024", "sweep-2024"),
        ("_draft", "draft"),
        ("x" * 230, "x" * 200),
        ("ok.name_1-b", "ok.name_1-b"),
    ],
)
def test_a_default_name_from_the_file_stem_is_made_to_fit(env, database_url, tmp_path, stem, name):
    done = run_cli(env, "submit", str(grid_file(tmp_path, stem=stem)))
    assert done.returncode == 0, done.stderr
    assert [s.name for s in Store(database_url).list_sweeps()] == [name]


def test_new_refuses_a_next_name_over_200_characters(env, database_url, redis_url, tmp_path):
    name = "n" * 199
    first = run_cli(env, "submit", str(grid_file(tmp_path)), "--name", name)
    assert first.returncode == 0, first.stderr
    queued = redis.Redis.from_url(redis_url).llen("cpu")
    other = grid_file(tmp_path, BASELINE + 'distance = "mae"\n', stem="other")
    done = run_cli(env, "submit", str(other), "--name", name, "--new")
    assert_refused(done, f"{name}-2 would be over 200 characters")
    assert [s.name for s in Store(database_url).list_sweeps()] == [name]
    assert redis.Redis.from_url(redis_url).llen("cpu") == queued


def test_new_takes_the_next_name_up_to_200_characters(env, database_url, tmp_path):
    name = "n" * 198
    assert run_cli(env, "submit", str(grid_file(tmp_path)), "--name", name).returncode == 0
    other = grid_file(tmp_path, BASELINE + 'distance = "mae"\n', stem="other")
    done = run_cli(env, "submit", str(other), "--name", name, "--new")
    assert done.returncode == 0, done.stderr
    assert sorted(s.name for s in Store(database_url).list_sweeps()) == [name, f"{name}-2"]


# -- names from before the rule ----------------------------------------------------------------


def legacy_sweeps(store: Store) -> dict[str, int]:
    """Sweeps written straight through the store, as mnistgrid wrote them before the rule."""
    job = new_job(JobSpec(model="baseline", distance="mse", epochs=1))
    names = ["first", "1", "a b", "a/b", "a_b", "42", "x" * 200]
    return {
        name: store.create_sweep(name, {}, f"h{i}", [job]).sweep_id for i, name in enumerate(names)
    }


def test_an_id_wins_over_a_name_of_digits(store: Store) -> None:
    ids = legacy_sweeps(store)
    assert ids["first"] == 1 and ids["1"] == 2
    assert store.get_sweep("1").name == "first"  # the id, not the old sweep named "1"
    assert store.get_sweep(str(ids["1"])).name == "1"
    assert store.get_sweep("42").name == "42"  # no sweep 42: the name is found


def test_old_names_keep_working_on_the_command_line(store: Store, env: dict[str, str]) -> None:
    ids = legacy_sweeps(store)
    listing = run_cli(env, "sweeps")
    assert listing.returncode == 0, listing.stderr
    for name, sweep_id in ids.items():
        ref = str(sweep_id) if name.isdigit() else name
        done = run_cli(env, "status", ref)
        assert done.returncode == 0, done.stderr
        assert f"sweep {name} (id {sweep_id})" in done.stdout


def test_old_names_keep_working_in_the_web_view_and_their_reports(
    store: Store, database_url: str, tmp_path: Path
) -> None:
    ids = legacy_sweeps(store)
    settings = Settings(database_url=database_url, reports_dir=tmp_path / "reports")
    for name in ("a b", "a_b"):
        write_report(store, ids[name], settings.reports_dir)
    with web_server(settings, store) as url, httpx.Client(base_url=url) as web:
        assert web.get("/sweeps/1").text.count("<title>") == 1
        assert "first" in web.get("/sweeps/1").text.split("</title>")[0]
        listed = {s["name"] for s in web.get("/api/sweeps").json()["sweeps"]}
        assert listed == set(ids)
        for name, sweep_id in ids.items():
            page = web.get(f"/sweeps/{sweep_id}")
            assert page.status_code == 200 and html.escape(name) in page.text, name
        links = {}
        for name in ("a b", "a_b"):
            links[name] = web.get(f"/api/sweeps/{ids[name]}/summary").json()["report_url"]
            report = web.get(links[name])
            assert report.status_code == 200 and f"Sweep {html.escape(name)}" in report.text
        assert links == {
            "a b": f"/reports/a_b%40{ids['a b']}/report.html",
            "a_b": "/reports/a_b/report.html",
        }
