"""The admin in a real browser: headless Chromium against Django's live server.

Run with the real services, e.g.::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/thredfi \\
    CELERY_BROKER_URL=redis://127.0.0.1:6379/3 .venv/bin/python -m pytest tests/browser

Screenshots land in artifacts/screenshots/.
"""

from __future__ import annotations

import time

import pytest
from django.contrib.auth.models import Permission, User

from tests.browser.conftest import screenshot
from thredfi_django.models import SyncStatus

pytestmark = [pytest.mark.browser, pytest.mark.services, pytest.mark.django_db(transaction=True)]

POLL_DEADLINE = 90.0  # seconds a page may take to show what the worker did


def make_operator(username: str = "ops") -> User:
    user = User.objects.create_user(
        username, f"{username}@example.com", "s3cret-pass", is_staff=True
    )
    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="testapp", codename__in=["view_invoice", "change_invoice"]
        ),
        *Permission.objects.filter(
            content_type__app_label="thredfi_django",
            codename__in=["view_syncstate", "sync_objects"],
        ),
    )
    return user


def log_in(browser, live_server, username: str = "ops") -> None:
    from selenium.webdriver.common.by import By

    browser.get(f"{live_server.url}/admin/login/?next=/admin/")
    browser.find_element(By.NAME, "username").send_keys(username)
    browser.find_element(By.NAME, "password").send_keys("s3cret-pass")
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    wait_for(browser, lambda: "/admin/login/" not in browser.current_url, "the login to finish")


def wait_for(browser, condition, what: str, deadline: float = POLL_DEADLINE, refresh=False):
    """Poll ``condition()`` until true or the deadline passes (then fail, with a screenshot)."""
    end = time.monotonic() + deadline
    while True:
        if refresh:
            browser.refresh()
        if condition():
            return
        if time.monotonic() > end:
            screenshot(browser, "timeout")
            pytest.fail(f"gave up after {deadline:.0f}s waiting for {what}")
        time.sleep(0.5)  # polling interval, not a timing assumption


def badges(browser) -> dict[str, str]:
    """Invoice number -> status shown by its badge, as rendered in the changelist."""
    from selenium.webdriver.common.by import By

    result = {}
    for row in browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr"):
        number = row.find_element(By.CSS_SELECTOR, ".field-number").text
        badge = row.find_element(By.CSS_SELECTOR, ".thredfi-badge")
        result[number] = badge.get_attribute("data-thredfi-status")
    return result


def test_the_index_lists_the_dashboard_and_it_renders(browser, live_server, account, make_invoice):
    from selenium.webdriver.common.by import By

    make_operator()
    make_invoice("INV-OK", SyncStatus.SYNCED)
    make_invoice("INV-BAD", SyncStatus.NEEDS_ATTENTION, last_error_code="validation_error")
    log_in(browser, live_server)

    link = browser.find_element(By.LINK_TEXT, "Sync dashboard")
    link.click()
    wait_for(browser, lambda: "Thredfi sync dashboard" in browser.title, "the dashboard")
    assert browser.find_element(By.ID, "kpi-attention").text.startswith("1")
    assert browser.find_element(By.CSS_SELECTOR, "svg.thredfi-chart").is_displayed()
    screenshot(browser, "dashboard")


from tests.admin_fixtures import *  # noqa: E402, F403  (fixtures: account, make_invoice)
