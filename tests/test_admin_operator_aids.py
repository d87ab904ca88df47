"""What an operator's first day in the admin needs: "Sync now" on the object's own form, a
warning the moment a saved object cannot go to Thredfi, retries that do not repeat a failure
nobody fixed, an amount column, an "Attempts" line that means something, the dashboard's grand
total and a favicon."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from tests.admin_fixtures import *  # noqa: F403  (fixtures)
from tests.admin_fixtures import client_for, make_staff, set_state, state_of
from tests.testapp import factories
from tests.testapp.models import InvoiceLine
from thredfi_django.engine import absorb
from thredfi_django.models import SyncAttempt, SyncStatus

LINES_MISSING = {"line_items": ["Add at least one line item."]}


def change_url(invoice) -> str:
    return reverse("admin:testapp_invoice_change", args=[invoice.pk])


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def rejected_locally(invoice):
    """The state a push refused by validate_for_thredfi() leaves behind."""
    absorb.absorb()
    return set_state(
        invoice,
        status=SyncStatus.NEEDS_ATTENTION,
        attempts=1,
        last_error_kind="local_validation",
        last_error_message="This invoice cannot be sent to Thredfi as it is.",
        last_error_fields=LINES_MISSING,
        last_error_at=timezone.now(),
    )


# -- "Sync now" on the host's change form ---------------------------------------------------------


def test_the_change_form_offers_sync_now_to_operators_only(make_invoice, operator, viewer):
    invoice = make_invoice("INV-1", SyncStatus.SYNCED)
    sync_url = reverse("admin:testapp_invoice_thredfi_sync", args=[invoice.pk])

    html = client_for(operator).get(change_url(invoice)).content.decode()
    assert 'id="thredfi-sync-now"' in html
    assert f'action="{sync_url}"' in html and 'method="post"' in html
    assert (
        'id="thredfi-sync-now"' not in client_for(viewer).get(change_url(invoice)).content.decode()
    )


def test_sync_now_from_the_change_form_queues_the_object_and_comes_back(
    make_invoice, operator, enqueued, django_capture_on_commit_callbacks
):
    invoice = make_invoice("INV-1", SyncStatus.SYNCED, synced_version=1)
    sync_url = reverse("admin:testapp_invoice_thredfi_sync", args=[invoice.pk])

    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(operator).post(sync_url, follow=True)

    assert response.redirect_chain[-1][0] == change_url(invoice)
    assert messages_of(response) == ["1 invoice queued for sync with Thredfi."]
    assert state_of(invoice).status == SyncStatus.PENDING
    assert enqueued == [state_of(invoice).pk]


def test_sync_now_refuses_get_and_users_without_the_sync_permission(make_invoice, operator, viewer):
    invoice = make_invoice("INV-1", SyncStatus.SYNCED)
    sync_url = reverse("admin:testapp_invoice_thredfi_sync", args=[invoice.pk])
    assert client_for(operator).get(sync_url).status_code == 405
    assert client_for(viewer).post(sync_url).status_code == 403
    assert client_for(operator).post(sync_url.replace(str(invoice.pk), "999")).status_code == 404
    assert state_of(invoice).status == SyncStatus.SYNCED


# -- a warning on save -------------------------------------------------------------------------


def invoice_form(invoice, quantity: str) -> dict:
    """The change form's POST for ``invoice`` with its one line at ``quantity``."""
    line = invoice.lines.get()
    return {
        "account": invoice.account_id,
        "customer": invoice.customer_id,
        "number": invoice.number,
        "currency": invoice.currency,
        "issued_on": invoice.issued_on.isoformat(),
        "due_on": invoice.due_on.isoformat(),
        "memo": "",
        "lines-TOTAL_FORMS": "1",
        "lines-INITIAL_FORMS": "1",
        "lines-MIN_NUM_FORMS": "0",
        "lines-MAX_NUM_FORMS": "1000",
        "lines-0-id": line.pk,
        "lines-0-invoice": invoice.pk,
        "lines-0-description": line.description,
        "lines-0-quantity": quantity,
        "lines-0-unit_price": str(line.unit_price),
        "lines-0-account_code": line.account_code,
        "_continue": "Save and continue editing",
    }


@pytest.fixture
def clerk(db):
    """May edit invoices and their lines (the operator fixture may not touch lines)."""
    return make_staff(
        "clerk", "testapp.view_invoice", "testapp.change_invoice", "testapp.change_invoiceline",
        "testapp.view_invoiceline", "testapp.add_invoiceline",
    )  # fmt: skip


def test_saving_an_invoice_thredfi_would_refuse_warns_at_once_and_still_saves(clerk):
    invoice = factories.make_invoice()

    response = client_for(clerk).post(change_url(invoice), invoice_form(invoice, "-2"), follow=True)

    warning = next(m for m in response.context["messages"] if m.level_tag == "warning")
    assert str(warning) == (
        "Saved, but Thredfi will not accept this invoice as it is: "
        "line_items[0].quantity: Line 1: quantity must be greater than 0."
    )
    assert invoice.lines.get().quantity == Decimal("-2")  # the save stands


def test_saving_a_valid_invoice_gives_no_warning(clerk):
    invoice = factories.make_invoice()
    response = client_for(clerk).post(change_url(invoice), invoice_form(invoice, "3"), follow=True)
    assert [m.level_tag for m in response.context["messages"]] == ["success"]


# -- retrying a local validation failure ---------------------------------------------------------


def test_retry_now_holds_back_an_object_that_still_fails_and_says_what_to_change(
    operator, enqueued, django_capture_on_commit_callbacks
):
    invoice = factories.make_invoice(lines=())
    state = rejected_locally(invoice)
    action_url = reverse("admin:thredfi_django_syncstate_sync_action", args=[state.pk])

    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(operator).post(action_url, {"action": "retry"}, follow=True)

    assert messages_of(response) == [
        "Not queued: 1 object still fails Thredfi's checks, so a retry would fail the same way. "
        f"Fix it and save it (the save queues it): Invoice {invoice.number}: "
        "line_items: Add at least one line item."
    ]
    assert next(iter(response.context["messages"])).level_tag == "warning"
    assert state_of(invoice).status == SyncStatus.NEEDS_ATTENTION
    assert state_of(invoice).version == state.version  # nothing re-queued
    assert enqueued == []


def test_retry_queues_it_once_the_object_passes_the_checks(
    operator, enqueued, django_capture_on_commit_callbacks
):
    invoice = factories.make_invoice(lines=())
    InvoiceLine.objects.create(invoice=invoice, description="Cake", unit_price=Decimal("9.00"))
    state = rejected_locally(invoice)  # e.g. the rule that refused it was fixed in code
    action_url = reverse("admin:thredfi_django_syncstate_sync_action", args=[state.pk])

    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(operator).post(action_url, {"action": "retry"}, follow=True)

    assert messages_of(response) == ["1 sync state queued for sync."]
    assert state_of(invoice).status == SyncStatus.PENDING
    assert enqueued == [state.pk]


def test_retry_failed_on_the_host_changelist_holds_back_the_same_way(
    operator, enqueued, django_capture_on_commit_callbacks
):
    from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

    still_bad = factories.make_invoice(lines=())
    rejected_locally(still_bad)
    server_refused = factories.make_invoice()
    absorb.absorb()
    set_state(server_refused, status=SyncStatus.FAILED, last_error_kind="validation")

    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(operator).post(
            reverse("admin:testapp_invoice_changelist"),
            {
                "action": "thredfi_retry_failed",
                ACTION_CHECKBOX_NAME: [still_bad.pk, server_refused.pk],
            },
            follow=True,
        )

    shown = messages_of(response)
    assert shown[0].startswith("Not queued: 1 object still fails Thredfi's checks")
    assert shown[1] == "1 invoice queued for sync with Thredfi."
    assert enqueued == [state_of(server_refused).pk]


# -- the amount column -------------------------------------------------------------------------


def test_invoices_list_their_total_in_their_currency(operator):
    factories.make_invoice(number="INV-A", lines=((Decimal("2"), Decimal("35.50")),))
    factories.make_invoice(
        number="INV-B",
        currency="EUR",
        lines=((Decimal("1"), Decimal("1000.00")), (Decimal("0.5"), Decimal("10.00"))),
    )

    response = client_for(operator).get(reverse("admin:testapp_invoice_changelist"))

    html = response.content.decode()
    assert '<td class="field-thredfi_amount">GBP 71.00</td>' in html
    assert '<td class="field-thredfi_amount">EUR 1,005.00</td>' in html
    accounts = client_for(make_staff("acc", "testapp.view_account")).get(
        reverse("admin:testapp_account_changelist")
    )
    assert "field-thredfi_amount" not in accounts.content.decode()  # no lines, no column


def test_the_amount_costs_no_query_per_row(operator):
    def queries_for_listing() -> int:
        with CaptureQueriesContext(connection) as queries:
            client_for(operator).get(reverse("admin:testapp_invoice_changelist"))
        return len(queries)

    factories.make_invoice()
    few = queries_for_listing()
    for _ in range(5):
        factories.make_invoice()
    assert queries_for_listing() == few


def test_the_amount_column_sorts_by_total(operator):
    factories.make_invoice(number="INV-SMALL", lines=((Decimal("1"), Decimal("5.00")),))
    factories.make_invoice(number="INV-BIG", lines=((Decimal("1"), Decimal("500.00")),))
    # Column 6 of number, account, customer, currency, issued_on, amount (0: the checkbox).
    response = client_for(operator).get(reverse("admin:testapp_invoice_changelist"), {"o": "6"})
    assert [i.number for i in response.context["cl"].result_list] == ["INV-SMALL", "INV-BIG"]


# -- the Thredfi fieldset's "Attempts" -----------------------------------------------------------


def test_attempts_on_a_synced_object_say_what_they_count(make_invoice, operator):
    invoice = make_invoice("INV-1", SyncStatus.SYNCED, attempts=0)
    for outcome in (SyncAttempt.Outcome.TRANSIENT_ERROR, SyncAttempt.Outcome.SUCCESS):
        SyncAttempt.objects.create(
            state=state_of(invoice), started_at=timezone.now(), outcome=outcome
        )

    html = client_for(operator).get(change_url(invoice)).content.decode()

    assert "no failure since the last success; 2 in the history" in html


def test_attempts_while_failing_count_since_the_last_success(make_invoice, operator):
    invoice = make_invoice("INV-1", SyncStatus.FAILED, attempts=3)
    html = client_for(operator).get(change_url(invoice)).content.decode()
    assert "3 failed since the last success; 0 in the history" in html


# -- the dashboard's total, the favicon -----------------------------------------------------------


def test_the_dashboard_shows_the_total_of_all_models(make_invoice, operator):
    make_invoice("INV-1", SyncStatus.SYNCED)
    make_invoice("INV-2", SyncStatus.FAILED)
    response = client_for(operator).get(reverse("admin:thredfi_django_syncdashboard_changelist"))
    html = response.content.decode()
    total = html.split('id="thredfi-total"')[1].split("</td>")[0]
    assert ">3</a>" in total  # the account and two invoices


@pytest.mark.parametrize(
    "url",
    ["admin:thredfi_django_syncdashboard_changelist", "admin:thredfi_django_syncstate_changelist"],
)
def test_the_apps_pages_link_a_favicon(operator, url):
    html = client_for(operator).get(reverse(url)).content.decode()
    assert 'rel="icon" type="image/svg+xml" href="/static/thredfi_django/favicon.svg"' in html


def test_the_host_change_form_links_the_favicon(make_invoice, operator):
    html = client_for(operator).get(change_url(make_invoice("INV-1"))).content.decode()
    assert "thredfi_django/favicon.svg" in html
