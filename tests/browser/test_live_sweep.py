"""The live sweep page in a real browser while a real sweep runs on real workers: the job
table and the learning curves follow the sweep without a reload.

    python -m pytest -m browser tests/browser

The sweep is submitted first and the page opened while every job is still queued; only then
do two `mnistgrid worker` processes start, so everything the page shows of the training
arrives through its live updates. Screenshots go to the test's tmp folder (live.png during
the sweep, finished.png at its end).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from PIL import Image, ImageStat
from selenium import webdriver

from tests.integration.services import (
    free_port,
    run_cli,
    sqlite_env,
    stop_process,
    wait_until,
    workers,
)

pytestmark = [pytest.mark.integration, pytest.mark.browser]

EPOCHS = 10
GRID = f"""
name = "live"
[data]
valid = "test"
[train]
epochs = {EPOCHS}
time_limit = 300
[grid]
model = ["baseline", "linear", "mlp"]
distance = ["mae", "mse"]
loss = ["mnist_loss", "cross_entropy"]
lr = [0.3, 1.0]
hidden = [32]
"""
JOBS = 10  # 2 baselines, 4 linear, 4 mlp
TRAINED_POINTS = 8 * EPOCHS

# What the page shows, read in the browser.
CURVE_POINTS = """
const div = document.getElementById('fig-curves');
if (!div || !div.data) return -1;
return div.data.reduce((n, t) => n + t.x.filter((x) => x !== null).length, 0);
"""
ROW_STATUSES = "return [...document.querySelectorAll('#jobs tbody tr')].map(r => r.dataset.status)"
SWEEP_STATUS = "return document.querySelector('#sweep-status .status').textContent"
UPDATES = "return +(document.body.dataset.updates || 0)"


def test_the_live_page_follows_a_real_sweep(
    browser: webdriver.Chrome, mnist_dir: Path, tmp_path: Path
) -> None:
    grid = tmp_path / "live.toml"
    grid.write_text(GRID)
    with sqlite_env(tmp_path, mnist_dir, "live") as env:
        submitted = run_cli(env, "submit", str(grid))
        assert submitted.returncode == 0, submitted.stderr
        with web_view(env, tmp_path) as url:
            browser.get(f"{url}/sweeps/live")
            wait_for(
                browser, lambda: len(browser.execute_script(ROW_STATUSES)) == JOBS, 30, tmp_path
            )
            assert set(browser.execute_script(ROW_STATUSES)) == {"queued"}
            assert browser.execute_script(CURVE_POINTS) == 0
            browser.execute_script("window.sameDocument = true")

            with workers(env, tmp_path, count=2):
                grown = lambda: browser.execute_script(CURVE_POINTS) >= TRAINED_POINTS // 3  # noqa: E731
                wait_for(browser, grown, 180, tmp_path)
                shot(browser, tmp_path / "live.png")
                ended = lambda: browser.execute_script(SWEEP_STATUS) == "finished"  # noqa: E731
                wait_for(browser, ended, 240, tmp_path)
                # The worker that ended the sweep writes its report; the page links to it.
                linked = lambda: browser.find_elements("css selector", "#report-link a")  # noqa: E731
                wait_for(browser, linked, 120, tmp_path)
            shot(browser, tmp_path / "finished.png")
            report = httpx.get(linked()[0].get_attribute("href"))
            assert report.status_code == 200 and "Sweep live" in report.text

            assert browser.execute_script("return window.sameDocument") is True, "reloaded"
            assert browser.execute_script(UPDATES) > 3
            assert browser.execute_script(ROW_STATUSES) == ["succeeded"] * JOBS
            assert browser.execute_script(CURVE_POINTS) == TRAINED_POINTS
            epochs = [cell.text for cell in browser.find_elements("css selector", "#jobs td")]
            assert epochs.count(f"{EPOCHS}/{EPOCHS}") == 8 and epochs.count("1/1") == 2
            assert page_errors(browser) == []
    for name in ("live.png", "finished.png"):
        assert not blank(tmp_path / name), name


class web_view:  # noqa: N801 (a context manager, used as one)
    """`mnistgrid serve` on a free port, as a user starts it."""

    def __init__(self, env: dict[str, str], folder: Path) -> None:
        self.env, self.log = env, folder / "serve.log"
        self.port = free_port()

    def __enter__(self) -> str:
        argv = [sys.executable, "-m", "mnistgrid.cli", "serve", "--port", str(self.port)]
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                argv, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        url = f"http://127.0.0.1:{self.port}"
        wait_until(lambda: answers(url), 30, f"mnistgrid serve ({self.log})")
        return url

    def __exit__(self, *_: object) -> None:
        stop_process(self.process)


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def wait_for(browser: webdriver.Chrome, condition, timeout: float, folder: Path) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            shot(browser, folder / "timed-out.png")
            raise AssertionError(f"timed out after {timeout:.0f} s; the page logged: "
                                 f"{page_errors(browser)}")  # fmt: skip
        time.sleep(0.5)


def shot(browser: webdriver.Chrome, path: Path) -> None:
    browser.execute_script("window.scrollTo(0, 0)")
    assert browser.save_screenshot(str(path)), path


def page_errors(browser: webdriver.Chrome) -> list[str]:
    """The page's own errors (a figure that failed, a poll that threw)."""
    return [
        entry["message"]
        for entry in browser.get_log("browser")
        if entry["level"] == "SEVERE" and "/static/" in entry["message"]
    ]


def blank(png: Path) -> bool:
    """True when the picture is (nearly) one colour: nothing was drawn."""
    with Image.open(png) as image:
        grey = image.convert("L")
        spread = ImageStat.Stat(grey).stddev[0]
        colours = image.convert("RGB").getcolors(maxcolors=1_000_000) or []
    return spread < 10 or len(colours) < 50
