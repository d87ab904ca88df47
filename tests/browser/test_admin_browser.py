"""The admin in a real browser: headless Chromium against Django's live server.

Run with the real services, e.g.::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/thredfi \\
    CELERY_BROKER_URL=redis://127.0.0.1:6379/3 .venv/bin/python -m pytest tests/browser

Screenshots land in artifacts/screenshots/.
"""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission, User
from django.db import transaction
from django.utils import timezone

from tests.admin_fixtures import *  # noqa: F403  (fixtures: account, make_invoice)
from tests.browser.conftest import screenshot
from tests.testapp import factories
from tests.testapp.models import Invoice
from thredfi_django.engine import absorb
from thredfi_django.engine.absorb import state_for
from thredfi_django.models import SyncAttempt, SyncState, SyncStatus

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


def find(browser, css: str, what: str, deadline: float = 30.0):
    """The element matching ``css`` once the page shows it (after a click that navigates)."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(browser, deadline, poll_frequency=0.2).until(
            expected_conditions.presence_of_element_located((By.CSS_SELECTOR, css))
        )
    except TimeoutException:
        screenshot(browser, "timeout")
        pytest.fail(f"gave up after {deadline:.0f}s waiting for {what} ({css})")


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

    browser.find_element(By.LINK_TEXT, "Sync dashboard").click()
    find(browser, "#kpi-attention", "the dashboard")
    assert browser.find_element(By.ID, "kpi-attention").text.startswith("1")
    assert browser.find_element(By.CSS_SELECTOR, "svg.thredfi-chart").is_displayed()
    screenshot(browser, "dashboard")


def test_an_operator_retries_rejected_invoices_and_watches_them_sync(
    browser, live_server, live_thredfi, celery_worker_process
):
    """The whole loop on real services: a real worker pushes to the fake Thredfi over HTTP,
    Thredfi rejects three invoices, the operator finds them, retries, and sees them synced."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    make_operator()
    # Thredfi turns down the next three invoice requests (400); the business and the customer
    # go through.
    live_thredfi.fail_next(count=3, status=400, path_contains="/invoices/")
    with transaction.atomic():
        customer = factories.make_customer(factories.make_account(legal_name="Acme Ltd"))
        numbers = [factories.make_invoice(customer, number=f"INV-10{i}").number for i in range(3)]

    log_in(browser, live_server)
    browser.get(f"{live_server.url}/admin/testapp/invoice/")
    filters = browser.find_element(By.ID, "changelist-filter")
    filters.find_element(By.LINK_TEXT, "Failed or needs attention").click()
    wait_for(
        browser,
        lambda: badges(browser) == dict.fromkeys(numbers, SyncStatus.NEEDS_ATTENTION),
        "the three rejected invoices to be listed as needing attention",
        refresh=True,
    )
    assert "thredfi_status=problems" in browser.current_url
    screenshot(browser, "1-invoices-need-attention")

    # The operator opens one to read why.
    browser.find_element(By.LINK_TEXT, numbers[0]).click()
    fieldset = find(browser, "fieldset.thredfi", "the invoice's Thredfi fieldset")
    assert "HTTP 400" in fieldset.text
    browser.execute_script("arguments[0].scrollIntoView();", fieldset)
    screenshot(browser, "2-invoice-error-detail")
    browser.back()
    find(browser, "#action-toggle", "the filtered changelist again")

    # The cause is gone on Thredfi's side (the rejections were for those three requests).
    assert live_thredfi.faults.settings()["pending_one_shots"] == 0
    assert live_thredfi.records("invoices") == []

    browser.find_element(By.ID, "action-toggle").click()
    Select(browser.find_element(By.NAME, "action")).select_by_value("thredfi_retry_failed")
    browser.find_element(By.CSS_SELECTOR, "button[name=index]").click()
    message = find(browser, "ul.messagelist li", "the action's message").text
    assert message == "3 invoices queued for sync with Thredfi."
    screenshot(browser, "3-retry-queued")

    browser.get(f"{live_server.url}/admin/testapp/invoice/")
    wait_for(
        browser,
        lambda: badges(browser) == dict.fromkeys(numbers, SyncStatus.SYNCED),
        "the worker to push the retried invoices",
        refresh=True,
    )
    screenshot(browser, "4-invoices-synced")
    remote = live_thredfi.count_by_external_id("invoices")
    assert sorted(remote) == sorted(i.get_thredfi_external_id() for i in Invoice.objects.all())
    assert set(remote.values()) == {1}

    browser.get(f"{live_server.url}/admin/thredfi_django/syncdashboard/")
    assert browser.find_element(By.ID, "kpi-failures-24h").text.startswith("3")
    screenshot(browser, "5-dashboard-after-retry")

    # The outbox row of the first invoice tells the story, newest first.
    browser.get(f"{live_server.url}/admin/thredfi_django/syncstate/")
    screenshot(browser, "6-outbox")
    browser.get(f"{live_server.url}/admin/thredfi_django/syncstate/?q=Invoice+INV-100")
    browser.find_element(By.LINK_TEXT, "Invoice INV-100").click()
    history = find(browser, "td.field-outcome_display", "the attempt history")
    outcomes = [
        cell.text for cell in browser.find_elements(By.CSS_SELECTOR, "td.field-outcome_display")
    ]
    assert outcomes == ["Success", "Permanent error"]
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", history)
    screenshot(browser, "7-outbox-row-history")


# -- the operators' first-day fixes (issue 13) -----------------------------------------------


def state_of(obj) -> SyncState:
    """The object's sync state (its save is taken in first, as the drain would)."""
    return state_for(obj)


def make_clerk(username: str = "clerk") -> User:
    """An operator who may also edit invoice lines (saving the invoice form needs that)."""
    user = make_operator(username)
    user.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="testapp",
            codename__in=["view_invoiceline", "change_invoiceline", "add_invoiceline"],
        )
    )
    return user


def messages_shown(browser) -> list[tuple[str, str]]:
    """(level, text) of each message the page shows."""
    from selenium.webdriver.common.by import By

    return [
        (item.get_attribute("class"), item.text)
        for item in browser.find_elements(By.CSS_SELECTOR, "ul.messagelist li")
    ]


def test_the_invoice_list_shows_amounts_and_the_dashboard_its_grand_total(browser, live_server):
    from selenium.webdriver.common.by import By

    make_operator()
    with transaction.atomic():
        customer = factories.make_customer(factories.make_account(legal_name="Acme Ltd"))
        factories.make_invoice(customer, number="INV-A", lines=((Decimal("2"), Decimal("35.50")),))
        factories.make_invoice(customer, number="INV-B", currency="EUR")
    absorb.absorb_all()  # the saves become sync-state rows, as the drain would make them
    log_in(browser, live_server)

    browser.get(f"{live_server.url}/admin/testapp/invoice/")
    amounts = {
        row.find_element(By.CSS_SELECTOR, ".field-number").text: row.find_element(
            By.CSS_SELECTOR, ".field-thredfi_amount"
        ).text
        for row in browser.find_elements(By.CSS_SELECTOR, "#result_list tbody tr")
    }
    assert amounts == {"INV-A": "GBP 71.00", "INV-B": "EUR 100.00"}
    header = browser.find_element(By.CSS_SELECTOR, "#result_list th.column-thredfi_amount")
    assert header.text == "AMOUNT"
    screenshot(browser, "10-invoices-with-amounts")

    browser.get(f"{live_server.url}/admin/thredfi_django/syncdashboard/")
    assert browser.find_element(By.ID, "thredfi-total").text == "4"  # account, customer, 2
    screenshot(browser, "11-dashboard-grand-total")


def test_sync_now_on_the_invoice_form_and_attempts_that_mean_something(browser, live_server):
    from selenium.webdriver.common.by import By

    make_operator()
    with transaction.atomic():
        invoice = factories.make_invoice(number="INV-7")
    state = state_of(invoice)
    SyncState.objects.filter(pk=state.pk).update(status=SyncStatus.SYNCED, attempts=0)
    SyncAttempt.objects.create(
        state=state, started_at=timezone.now(), outcome=SyncAttempt.Outcome.SUCCESS
    )
    log_in(browser, live_server)

    browser.get(f"{live_server.url}/admin/testapp/invoice/{invoice.pk}/change/")
    attempts = find(browser, ".field-thredfi_attempts .readonly", "the Attempts line").text
    assert attempts == "no failure since the last success; 1 in the history"
    browser.execute_script(
        "arguments[0].scrollIntoView({block: 'center'});",
        browser.find_element(By.CSS_SELECTOR, "fieldset.thredfi"),
    )
    screenshot(browser, "12-invoice-form-thredfi-fieldset")
    browser.execute_script("window.scrollTo(0, 0);")
    icon = browser.find_element(By.CSS_SELECTOR, "link[rel=icon]").get_attribute("href")
    assert icon.endswith("/static/thredfi_django/favicon.svg")
    screenshot(browser, "12-invoice-form-sync-now")

    browser.find_element(By.ID, "thredfi-sync-now").click()
    find(browser, "ul.messagelist li", "the Sync now message")
    assert messages_shown(browser) == [("success", "1 invoice queued for sync with Thredfi.")]
    assert browser.current_url.endswith(f"/admin/testapp/invoice/{invoice.pk}/change/")
    assert state_of(invoice).status in (SyncStatus.PENDING, SyncStatus.IN_PROGRESS)
    screenshot(browser, "13-invoice-sync-now-queued")


def test_saving_an_invoice_with_a_negative_quantity_warns_at_once(browser, live_server):
    from selenium.webdriver.common.by import By

    make_clerk()
    with transaction.atomic():
        invoice = factories.make_invoice(number="INV-NEG")
    log_in(browser, live_server, "clerk")

    browser.get(f"{live_server.url}/admin/testapp/invoice/{invoice.pk}/change/")
    quantity = browser.find_element(By.ID, "id_lines-0-quantity")
    quantity.clear()
    quantity.send_keys("-1")
    browser.find_element(By.NAME, "_continue").click()

    find(browser, "ul.messagelist li.warning", "the warning")
    shown = dict(messages_shown(browser))
    assert shown["warning"] == (
        "Saved, but Thredfi will not accept this invoice as it is: "
        "line_items[0].quantity: Line 1: quantity must be greater than 0."
    )
    assert "was changed successfully" in shown["success"]
    screenshot(browser, "14-invoice-saved-with-warning")


def test_retry_now_on_a_still_invalid_invoice_says_what_to_change(browser, live_server):
    from selenium.webdriver.common.by import By

    make_operator()
    with transaction.atomic():
        invoice = factories.make_invoice(number="INV-EMPTY", lines=())
    state = state_of(invoice)
    long_message = "This invoice cannot be sent to Thredfi as it is. " * 6
    SyncState.objects.filter(pk=state.pk).update(
        status=SyncStatus.NEEDS_ATTENTION,
        last_error_kind="local_validation",
        last_error_fields={"line_items": ["Add at least one line item."]},
    )
    for _ in range(3):  # the same failure, stored before the fix
        SyncAttempt.objects.create(
            state=state,
            started_at=timezone.now(),
            outcome=SyncAttempt.Outcome.PERMANENT_ERROR,
            error_kind="local_validation",
            error_code="local_validation",
            message=long_message,
            field_errors={
                "line_items": ["Add at least one line item."],
                "customer_reference_with_a_long_name": ["x" * 80],
            },
            worker="celery@a-rather-long-worker-hostname.example.internal",
        )
    log_in(browser, live_server)

    browser.get(f"{live_server.url}/admin/thredfi_django/syncstate/{state.pk}/change/")
    # The history fits the page at 1,400 px: the field errors column is not cut off.
    cell = find(browser, "td.field-field_errors_display", "the attempt history")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", cell)
    # Every column of the history ends inside the page (nothing cut off, no sideways scrolling).
    page_width = browser.execute_script("return document.documentElement.clientWidth")
    rights = browser.execute_script(
        "return [...document.querySelectorAll('.thredfi-history tbody tr:first-child td')]"
        ".map(td => [td.className, td.getBoundingClientRect().right])"
    )
    assert [c for c, right in rights if right > page_width] == [], (page_width, rights)
    screenshot(browser, "15-history-fits")

    browser.find_element(By.ID, "thredfi-retry").click()
    find(browser, "ul.messagelist li", "the retry's message")
    ((level, text),) = messages_shown(browser)
    assert level == "warning"
    assert text.startswith("Not queued: 1 object still fails Thredfi's checks")
    assert "line_items: Add at least one line item." in text
    assert state_of(invoice).status == SyncStatus.NEEDS_ATTENTION
    screenshot(browser, "16-retry-held-back")
