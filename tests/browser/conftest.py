"""Headless Chromium for the admin end-to-end tests (marker ``browser``).

Uses Debian's ``chromium`` and ``chromium-driver`` packages through Selenium, with the driver
path given explicitly so selenium-manager never downloads anything. Without them the tests are
skipped locally and fail under CI=true (scripts/test.sh installs them there).
Screenshots go to ``artifacts/screenshots/`` (gitignored).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM = os.environ.get("THREDFI_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("THREDFI_CHROMEDRIVER", "/usr/bin/chromedriver")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--window-size=1400,1000",
]


def _browser_problem() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -r requirements.txt)"
    for path in (CHROMIUM, CHROMEDRIVER):
        if not (os.path.exists(path) or shutil.which(path)):
            return f"{path} is missing (apt-get install chromium chromium-driver)"
    return None


@pytest.fixture(scope="session")
def _chromium_available() -> None:
    problem = _browser_problem()
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser tests need headless Chromium under CI=true: {problem}")
        pytest.skip(f"browser tests need headless Chromium: {problem}")


@pytest.fixture
def browser(_chromium_available, request):
    """A headless Chromium (Selenium WebDriver), closed after the test."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.implicitly_wait(0)
    try:
        yield driver
    finally:
        if getattr(request.node, "rep_call_failed", False):
            screenshot(driver, f"FAILED-{request.node.name}")
        driver.quit()


def screenshot(driver, name: str) -> Path:
    """Save a PNG of the current page under artifacts/screenshots/ and return its path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call" and report.failed:
        item.rep_call_failed = True
    return report
