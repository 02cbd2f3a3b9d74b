"""A real browser for the web view's tests: Debian's headless Chromium, driven by Selenium
through Debian's chromedriver.

    python -m pytest -m browser

When chromium or chromium-driver is missing, the session installs them with apt-get if it
runs as root; otherwise every browser test skips with one line saying why.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

PACKAGES = ("chromium", "chromium-driver")
# Chromium as root in a container: no sandbox, no GPU, and nothing that calls home.
ARGUMENTS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1500",
)


def found() -> tuple[str, str] | None:
    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


def install() -> str | None:
    """Install the packages with apt-get; None when done, else why not (one line)."""
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return f"{' and '.join(PACKAGES)} are not installed, and this is no root with apt-get"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", *PACKAGES]
    for step in ([], [["apt-get", "update", "-q"]]):  # a stale package list: update, retry
        for command in [*step, install]:
            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
        if done.returncode == 0:
            return None
    tail = (done.stderr or done.stdout).strip().splitlines()
    return f"apt-get install {' '.join(PACKAGES)} failed: {tail[-1] if tail else done.returncode}"


@pytest.fixture(scope="session")
def chromium() -> tuple[str, str]:
    """The paths of chromium and chromedriver."""
    paths = found()
    if paths is None:
        why = install()
        paths = found()
        if paths is None:
            pytest.skip(why or "chromium installed, but chromium or chromedriver is not on PATH")
    return paths


@pytest.fixture
def browser(chromium: tuple[str, str], tmp_path: Path) -> Iterator[webdriver.Chrome]:
    binary, driver = chromium
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for argument in (*ARGUMENTS, f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    chrome = webdriver.Chrome(service=Service(executable_path=driver), options=options)
    chrome.set_page_load_timeout(60)
    try:
        yield chrome
    finally:
        chrome.quit()
