"""The web view's compare page over HTTP, on real SQLite and PostgreSQL stores: the seeds grid
against its ASHA twin, as `mnistgrid compare` sets them side by side.

    python -m pytest tests/integration/test_web_compare.py
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from db.store import Store
from mnistgrid.results import Results
from mnistgrid.results.compare import compare, family_lines
from mnistgrid.settings import Settings
from tests.integration.test_web import snapshot
from tests.integration.webtools import web_server

pytestmark = pytest.mark.integration


@pytest.fixture
def database_url(twins_url: str) -> str:
    """The seeds grid and its ASHA twin, on each backend."""
    return twins_url


@pytest.fixture
def web(store: Store, tmp_path: Path) -> Iterator[httpx.Client]:
    settings = Settings(database_url=store.url, reports_dir=tmp_path / "reports")
    with web_server(settings, store) as url, httpx.Client(base_url=url, timeout=30) as client:
        yield client


def test_the_compare_page_shows_what_mnistgrid_compare_prints(
    web: httpx.Client, store: Store
) -> None:
    listing = web.get("/").text
    assert 'action="/compare"' in listing
    for sweep_id in (1, 2):
        assert f'name="sweep" value="{sweep_id}"' in listing  # a tick per sweep

    page = web.get("/compare", params=[("sweep", "seeds"), ("sweep", "2")])
    assert page.status_code == 200, page.text
    text = html.unescape(page.text)
    lines = family_lines(compare(Results(store), ["seeds", "seeds-asha"]))
    for line in lines:
        row = text.split(f'data-family="{line.family}" data-sweep="{line.sweep}"')[1]
        row = row.split("</tr>")[0]
        for value in (line.best, line.gain, line.config, line.epochs, line.epochs_vs):
            assert value in row, (line, value)
    assert "mnistgrid compare seeds seeds-asha" in text
    for figure in ("curves", "parallel"):
        assert f'id="fig-{figure}"' in text

    data = web.get("/api/compare", params=[("sweep", "1"), ("sweep", "seeds-asha")]).json()
    assert [line["sweep"] for line in data["sweeps"]] == ["seeds", "seeds-asha"]
    assert data["sweeps"][1]["epochs_vs"].endswith("x fewer")
    curves = data["figures"]["curves"]
    # a panel per trained family, a curve per sweep in each
    assert [a["text"] for a in curves["layout"]["annotations"]] == ["linear", "mlp"]
    assert len(curves["data"]) == 4
    parallel = data["figures"]["parallel"]["data"][0]
    sweeps = parallel["dimensions"][0]
    assert sweeps["label"] == "sweep" and sweeps["ticktext"] == ["seeds", "seeds-asha"]
    assert sorted(set(sweeps["values"])) == [0, 1]  # both sweeps' jobs, coloured by sweep


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ([], 400, "tick two sweeps or more"),
        ([("sweep", "seeds")], 400, "tick two sweeps or more"),
        ([("sweep", "seeds"), ("sweep", "nope")], 404, "no sweep 'nope'"),
        ([("sweep", "seeds"), ("sweep", "1")], 400, "named twice"),
        ([("sweep", "seeds"), ("sweep", "99999999999999999999")], 404, "no sweep"),
        ([("sweep", str(i)) for i in range(21)], 400, "at most 20"),
    ],
)
def test_a_bad_comparison_says_why(
    web: httpx.Client, query: list[tuple[str, str]], status: int, message: str
) -> None:
    page = web.get("/compare", params=query)
    assert page.status_code == status and message in html.unescape(page.text)
    api = web.get("/api/compare", params=query)
    assert api.status_code == status and message in api.json()["error"]


def test_comparing_writes_nothing(web: httpx.Client, store: Store) -> None:
    before = snapshot(store)
    for path in ("/compare", "/api/compare"):
        assert web.get(path, params=[("sweep", "1"), ("sweep", "2")]).status_code == 200
        assert web.post(path, params=[("sweep", "1"), ("sweep", "2")]).status_code == 405
    assert snapshot(store) == before
