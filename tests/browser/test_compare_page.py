"""The compare page in a real browser: on the sweep list the user ticks the seeds sweep and its
ASHA twin (the ticks outlive the list's live updates), presses compare, and the page draws the
families' best curves overlaid and the parallel coordinates of both sweeps.

    python -m pytest -m browser tests/browser/test_compare_page.py

The store is a real SQLite file written as workers write it (tests/integration/twins.py);
`mnistgrid serve` runs as a user starts it. Screenshots go to the test's tmp folder
(compare.png).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl, urlparse

import pytest
from selenium import webdriver

from db.store import Store
from tests.browser.test_live_sweep import blank, page_errors, shot, wait_for, web_view
from tests.integration.services import mnistgrid_env
from tests.integration.twins import write_twins

pytestmark = [pytest.mark.integration, pytest.mark.browser]

UPDATES = "return +(document.body.dataset.updates || 0)"
TRACES = "const d = document.getElementById(arguments[0]); return d && d.data ? d.data.length : -1"


def test_tick_two_sweeps_and_compare_them(browser: webdriver.Chrome, tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'twins.db'}"
    with Store(database_url) as store:
        seeds, asha = write_twins(store)
    env = mnistgrid_env(database_url=database_url, reports_dir=str(tmp_path / "reports"))
    with web_view(env, tmp_path) as url:
        browser.get(url + "/")
        button = browser.find_element("id", "compare-button")
        assert not button.is_enabled()  # nothing ticked yet
        for sweep_id in (seeds, asha):
            browser.find_element("css selector", f"input[name=sweep][value='{sweep_id}']").click()
        assert button.is_enabled()
        # the list redraws its rows every few seconds: the ticks stay
        wait_for(browser, lambda: browser.execute_script(UPDATES) >= 1, 30, tmp_path)
        ticked = browser.find_elements("css selector", "input[name=sweep]:checked")
        assert sorted(int(box.get_attribute("value")) for box in ticked) == [seeds, asha]

        browser.find_element("id", "compare-button").click()
        wait_for(browser, lambda: urlparse(browser.current_url).path == "/compare", 30, tmp_path)
        query = parse_qsl(urlparse(browser.current_url).query)
        assert [int(v) for k, v in query if k == "sweep"] == [seeds, asha]  # oldest first

        # two trained families, a best curve of each sweep in each
        curves = lambda: browser.execute_script(TRACES, "fig-curves") == 4  # noqa: E731
        wait_for(browser, curves, 60, tmp_path)
        browser.execute_script("document.getElementById('fig-parallel').scrollIntoView()")
        parallel = lambda: browser.execute_script(TRACES, "fig-parallel") == 1  # noqa: E731
        wait_for(browser, parallel, 60, tmp_path)
        rows = browser.find_elements("css selector", "#families tbody tr")
        assert len(rows) == 8  # four families x two sweeps
        assert "x fewer" in browser.find_element("id", "compared").text
        shot(browser, tmp_path / "compare.png")
        assert page_errors(browser) == []
    assert not blank(tmp_path / "compare.png")
