"""Reading Thredfi back: a payment someone records in Thredfi's own app (not through us) reaches
our invoice's sync state, and the host hears of it once, through ``remote_changed``."""

from __future__ import annotations

from decimal import Decimal
from io import StringIO
from urllib.parse import parse_qs

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from tests.admin_fixtures import client_for, make_staff
from tests.testapp.factories import (
    make_bill,
    make_customer_credit,
    make_invoice,
    make_payment,
    make_vendor,
)
from tests.testapp.models import Invoice
from thredfi_django.client import get_client
from thredfi_django.engine.absorb import state_for
from thredfi_django.engine.pauses import pause
from thredfi_django.engine.pull import pull
from thredfi_django.models import SyncStatus
from thredfi_django.signals import remote_changed
from thredfi_django.tasks import pull_remote

pytestmark = pytest.mark.django_db

INVOICES = "GET /v1/platform/businesses/{business_id}/invoices/"


def run(*args):
    """(output, CommandError or None) of ``thredfi_pull``."""
    out = StringIO()
    try:
        call_command("thredfi_pull", *args, stdout=out)
    except CommandError as err:
        return out.getvalue(), err
    return out.getvalue(), None


@pytest.fixture
def heard():
    """The ``remote_changed`` signals sent, as (sender, kwargs)."""
    signals = []

    def listen(sender, **kwargs):
        signals.append((sender, kwargs))

    remote_changed.connect(listen, dispatch_uid="test_pull")
    yield signals
    remote_changed.disconnect(dispatch_uid="test_pull")


@pytest.fixture
def invoice(committed, thredfi_fake):
    """A 100.00 invoice pushed to Thredfi, and pulled once (Thredfi says: sent, 10000 due)."""
    with committed():
        invoice = make_invoice()
    call_command("thredfi_sync", "--now", stdout=StringIO())
    assert state_for(invoice).status == SyncStatus.SYNCED
    with committed():
        pull()
    return Invoice.objects.get(pk=invoice.pk)


def pay_in_thredfi(invoice, cents):
    """Someone records a payment in Thredfi directly: an external_id that is not ours."""
    business = str(invoice.account.thredfi_id)
    remote = get_client().business(business).invoices.get(str(invoice.thredfi_id))
    get_client().business(business).payments.create(
        {
            "customer_id": remote["customer"]["id"],
            "total_amount_cents": cents,
            "allocations": [{"invoice_id": str(invoice.thredfi_id), "amount_cents": cents}],
            "payment_date": "2026-12-01",
            "external_id": "typed-in-by-the-bookkeeper",
        }
    )


def test_the_first_pull_stores_what_thredfi_says(invoice):
    state = state_for(invoice)
    assert (state.remote_status, state.remote_amount_due_cents) == ("sent", 10000)
    assert state.remote_amount_paid_cents == 0
    assert state.remote_checked_at is not None and state.remote_updated_at is not None


def test_a_payment_recorded_in_thredfi_marks_our_invoice_paid_and_says_so_once(
    invoice, committed, heard
):
    pay_in_thredfi(invoice, 10000)

    with committed():
        (result,) = pull()

    state = state_for(invoice)
    assert (state.remote_status, state.remote_amount_due_cents) == ("paid", 0)
    assert state.remote_amount_paid_cents == 10000
    assert state.status == SyncStatus.SYNCED  # our side did not change: nothing to push
    assert result.changed == 1
    ((sender, kwargs),) = heard
    assert sender is Invoice
    assert kwargs["instance"] == invoice
    assert kwargs["state"].pk == state.pk
    assert kwargs["remote"]["id"] == str(invoice.thredfi_id)
    assert kwargs["changed"] == {
        "remote_status": ("sent", "paid"),
        "remote_amount_due_cents": (10000, 0),
        "remote_amount_paid_cents": (0, 10000),
    }

    checked = state.remote_checked_at
    heard.clear()
    with committed():
        (again,) = pull()
    assert again.changed == 0
    assert heard == []
    state = state_for(invoice)
    assert state.remote_status == "paid" and state.remote_checked_at > checked


def test_payments_bills_and_credits_are_read_back_too(committed, thredfi_fake):
    with committed():
        invoice = make_invoice()  # 100.00
        payment = make_payment(invoice, Decimal("30.00"))
        credit = make_customer_credit(invoice, allocate=Decimal("5.00"))  # 20.00 credit
        bill = make_bill(make_vendor(invoice.account))  # 120.00
    call_command("thredfi_sync", "--now", stdout=StringIO())
    with committed():
        pull()

    def remote(obj):
        state = state_for(obj)
        return (state.remote_status, state.remote_amount_paid_cents, state.remote_amount_due_cents)

    assert remote(invoice) == ("partially_paid", 3500, 6500)  # the credit applied counts
    assert remote(payment) == ("completed", 3000, None)
    assert remote(credit) == ("draft", 500, 1500)  # applied, left to apply
    assert remote(bill) == ("received", 0, 12000)


def test_the_signal_waits_for_the_commit(invoice, heard, django_capture_on_commit_callbacks):
    pay_in_thredfi(invoice, 4000)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        pull()
    assert heard == [], "nothing is said before the new values are committed"
    for callback in callbacks:
        callback()
    ((_, kwargs),) = heard
    assert kwargs["changed"]["remote_status"] == ("sent", "partially_paid")


def test_later_pulls_read_a_bounded_number_of_pages(invoice, committed, thredfi_fake, settings):
    business = str(invoice.account.thredfi_id)
    customer = thredfi_fake.records("invoices")[0]["customer"]["id"]
    invoices = get_client().business(business).invoices
    for n in range(250):  # three pages of invoices created in Thredfi, not by us
        invoices.create(
            {"external_id": f"other-{n}", "customer_id": customer,
             "line_items": [{"quantity": 1, "unit_price_cents": 100, "description": "x"}]}
        )  # fmt: skip
    settings.THREDFI = {**settings.THREDFI, "PULL_MAX_PAGES": 1}

    before = thredfi_fake.stats.requests[INVOICES]
    with committed():
        (bounded,) = pull()
    assert thredfi_fake.stats.requests[INVOICES] - before == 1
    assert not bounded.full

    before = thredfi_fake.stats.requests[INVOICES]
    with committed():
        (full,) = pull(full=True)
    assert thredfi_fake.stats.requests[INVOICES] - before == 3
    assert full.full


def test_a_pull_asks_only_for_pages(invoice, committed, thredfi_fake, monkeypatch):
    """No changed-since filter or sort order is documented for these four lists, so none is
    sent: a server rejecting an unknown parameter would fail every pull."""
    asked = []
    handle = thredfi_fake.handle

    def spy(method, path_with_query, *args, **kwargs):
        if method == "GET" and "?" in path_with_query:
            path, query = path_with_query.split("?", 1)
            asked.append((path.rstrip("/").rsplit("/", 1)[-1], sorted(parse_qs(query))))
        return handle(method, path_with_query, *args, **kwargs)

    monkeypatch.setattr(thredfi_fake, "handle", spy)
    with committed():
        pull()
    assert sorted(asked) == [
        ("bills", ["page", "page_size"]),
        ("customer-credits", ["page", "page_size"]),
        ("invoices", ["page", "page_size"]),
        ("payments", ["page", "page_size"]),
    ]


def test_the_command_reports_each_business_and_exits_0(invoice, committed):
    pay_in_thredfi(invoice, 10000)
    with committed():
        output, error = run("--business", str(invoice.account.thredfi_id))
    assert error is None
    assert f"({invoice.account.thredfi_id}): read " in output
    assert "matched 1, 1 changed" in output  # the invoice; the payment is not ours


def test_the_command_exits_1_when_thredfi_cannot_be_read(invoice, thredfi_fake):
    thredfi_fake.fail_next(status=500, count=50)
    output, error = run()
    assert error is not None and error.returncode == 1
    assert "✗" in output
    assert "could not be read for 1 business" in str(error)


def test_a_paused_business_is_not_pulled(invoice):
    pause("credentials", "rejected")
    assert pull() == []
    output, error = run()
    assert error is not None and "paused" in str(error)


def test_the_task_returns_the_rows_changed(invoice, committed):
    pay_in_thredfi(invoice, 2500)
    with committed():
        assert pull_remote() == 1


def test_the_admin_shows_the_remote_status_beside_ours(invoice, committed):
    pay_in_thredfi(invoice, 10000)
    with committed():
        pull()
    user = make_staff("viewer", "thredfi_django.view_syncstate", "testapp.view_invoice")
    viewer = client_for(user)
    changelist = viewer.get(reverse("admin:thredfi_django_syncstate_changelist")).content.decode()
    assert '<td class="field-remote_status">paid</td>' in changelist
    detail = viewer.get(
        reverse("admin:thredfi_django_syncstate_change", args=[state_for(invoice).pk])
    ).content.decode()
    assert "Status in Thredfi" in detail and "100.00 paid" in detail
    host = viewer.get(reverse("admin:testapp_invoice_change", args=[invoice.pk])).content.decode()
    assert "Status in Thredfi" in host and "paid" in host
