"""The demo in a real browser: a person creates an invoice in the admin and, without touching
anything else, sees its badge turn to "synced" (headless Chromium; marker ``browser``)."""

from __future__ import annotations

import datetime as dt
import os
import signal

import pytest
import requests

# The browser fixtures live in tests/browser/conftest.py; importing them makes them usable here.
from tests.browser.conftest import _chromium_available, browser, screenshot  # noqa: F401
from tests.test_demo_run import STOP_TIMEOUT, Demo, alive

pytestmark = pytest.mark.browser


def test_an_invoice_created_in_the_admin_turns_synced_on_screen(browser, tmp_path):  # noqa: F811
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.select import Select
    from selenium.webdriver.support.ui import WebDriverWait

    demo = Demo(tmp_path)
    try:
        demo.wait_until_started()
        browser.get(f"{demo.base}/admin/login/")
        browser.find_element(By.ID, "id_username").send_keys("admin")
        browser.find_element(By.ID, "id_password").send_keys(demo.password)
        browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
        WebDriverWait(browser, 20).until(lambda d: d.find_elements(By.ID, "user-tools"))

        add_invoice(browser, demo, "DEMO-BROWSER-1")

        row = "//tr[.//a[text()='DEMO-BROWSER-1']]"
        WebDriverWait(browser, 20).until(lambda d: d.find_elements(By.XPATH, row))
        synced = f"{row}//*[@data-thredfi-status='synced']"
        try:  # No reload by the test: the changelist follows the sync by itself.
            WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.XPATH, synced))
        except TimeoutException:
            screenshot(browser, "FAILED-demo-invoice-not-synced")
            badge = browser.find_element(By.XPATH, row).text
            pytest.fail(f"the row still reads {badge!r}; demo output:\n{demo.output()}")
        screenshot(browser, "demo-invoice-synced")

        # An operator ticks rows while another invoice is still pending: the page follows the
        # sync by swapping badges, so the ticks and the chosen action stay.
        requests.post(
            f"http://127.0.0.1:{demo.fake_port}/__fake__/fail-next",
            json={"count": 1, "status": 503, "path_contains": "/invoices", "retry_after": 3},
            timeout=5,
        ).raise_for_status()
        add_invoice(browser, demo, "DEMO-BROWSER-2")
        pending = "//tr[.//a[text()='DEMO-BROWSER-2']]"
        WebDriverWait(browser, 20).until(lambda d: d.find_elements(By.XPATH, pending))
        assert browser.find_elements(By.XPATH, f"{pending}//*[@data-thredfi-status='pending']")
        ticked = browser.find_element(By.XPATH, f"{row}//input[@class='action-select']")
        ticked.click()
        Select(browser.find_element(By.NAME, "action")).select_by_value("thredfi_sync_now")
        try:
            WebDriverWait(browser, 60).until(
                lambda d: d.find_elements(By.XPATH, f"{pending}//*[@data-thredfi-status='synced']")
            )
        except TimeoutException:
            screenshot(browser, "FAILED-demo-second-invoice-not-synced")
            pytest.fail(f"DEMO-BROWSER-2 never synced; demo output:\n{demo.output()}")
        ticked = browser.find_element(By.XPATH, f"{row}//input[@class='action-select']")
        assert ticked.is_selected(), "the refresh threw away the operator's tick"
        chosen = Select(browser.find_element(By.NAME, "action")).first_selected_option
        assert chosen.get_attribute("value") == "thredfi_sync_now"
        screenshot(browser, "demo-ticks-survive-refresh")

        # The widget's getToken(), as the demo's accounting page calls it (session + CSRF).
        browser.get(f"{demo.base}/accounting/")
        assert (
            browser.find_element(By.ID, "site-name").text
            == "Demo partner platform (thredfi-django)"
        )
        screenshot(browser, "demo-accounting-page")
        browser.find_element(By.ID, "get-token").click()
        answer = WebDriverWait(browser, 20).until(
            lambda d: (
                "HTTP" in d.find_element(By.ID, "answer").text
                and d.find_element(By.ID, "answer").text
            )
        )
        assert answer.startswith("HTTP 200") and '"business_id"' in answer, answer

        children = demo.child_pids()
        os.kill(demo.proc.pid, signal.SIGINT)
        assert demo.proc.wait(timeout=STOP_TIMEOUT) == 0, demo.output()
        assert not [name for name, pid in children.items() if alive(pid)]
    finally:
        if demo.proc.poll() is None or any(alive(p) for p in demo.child_pids().values()):
            demo.kill_everything()


def add_invoice(driver, demo, number: str) -> None:
    """Create an invoice with one line through the demo admin's add form, as a person would."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.select import Select

    driver.get(f"{demo.base}/admin/billing/invoice/add/")
    Select(driver.find_element(By.ID, "id_account")).select_by_visible_text("Acme Bakery Ltd")
    Select(driver.find_element(By.ID, "id_customer")).select_by_visible_text("Doe Catering")
    driver.find_element(By.ID, "id_number").send_keys(number)
    due = (dt.date.today() + dt.timedelta(days=30)).strftime("%d/%m/%Y")  # en-GB admin
    driver.find_element(By.ID, "id_due_on").send_keys(due)
    driver.find_element(By.ID, "id_lines-0-description").send_keys("Anniversary cake")
    driver.find_element(By.ID, "id_lines-0-unit_price").send_keys("80.00")
    driver.find_element(By.NAME, "_save").click()
