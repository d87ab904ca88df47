"""Invoice and bill lines: one schema at a time, and ledger accounts checked before sending."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
from django.conf import settings
from django.core.cache import cache
from django.test import override_settings

from tests.testapp.factories import make_account, make_bill, make_customer, make_invoice
from tests.testapp.models import Customer, Invoice, InvoiceLine
from thredfi_django import ledger
from thredfi_django.client import get_client
from thredfi_django.conf import thredfi_settings
from thredfi_django.engine import absorb
from thredfi_django.engine.drain import drain
from thredfi_django.exceptions import ThredfiServerError
from thredfi_django.models import SyncState, SyncStatus

pytestmark = pytest.mark.django_db

REFERENCE = {**settings.THREDFI, "LINE_SCHEMA": "reference"}


def gets(fake, path_end: str) -> int:
    return sum(
        n
        for key, n in fake.stats.requests.items()
        if key.startswith("GET ") and key.endswith(path_end)
    )


def posts(fake, path_end: str) -> int:
    return sum(
        n
        for key, n in fake.stats.requests.items()
        if key.startswith("POST ") and key.endswith(path_end)
    )


def pushed_invoice(fake, invoice):
    (remote,) = fake.records("invoices", str(invoice.account.thredfi_id))
    return remote


def test_the_guide_schema_sends_unit_price_cents_and_account_code(thredfi_fake, queue, committed):
    with committed():
        invoice = make_invoice(lines=[(Decimal("2"), Decimal("12.50"))])
    assert {r.outcome for r in queue.drain()} == {"synced"}

    invoice.refresh_from_db()
    line = invoice.lines.get()
    sent = invoice.get_thredfi_payload()["line_items"][0]
    assert {"unit_price_cents", "account_code"} <= set(sent)
    assert not {"unit_price", "account_identifier"} & set(sent)
    (remote_line,) = pushed_invoice(thredfi_fake, invoice)["line_items"]
    assert (remote_line["unit_price"], remote_line["account_code"]) == (1250, line.account_code)


def test_the_reference_schema_sends_unit_price_and_the_ledger_account_id(
    thredfi_fake, queue, committed
):
    thredfi_fake.line_schema = "reference"
    with override_settings(THREDFI=REFERENCE):
        with committed():
            invoice = make_invoice(lines=[(Decimal("1"), Decimal("99.99"))])
        assert {r.outcome for r in queue.drain()} == {"synced"}
        invoice.refresh_from_db()
        sent = invoice.get_thredfi_payload()["line_items"][0]

    (sales,) = [
        a
        for a in thredfi_fake.records("accounts", str(invoice.account.thredfi_id))
        if a["code"] == "4000"
    ]
    assert sent["unit_price"] == 9999
    assert sent["account_identifier"] == {"type": "AccountId", "id": sales["id"]}
    assert not {"unit_price_cents", "account_code"} & set(sent)
    (remote_line,) = pushed_invoice(thredfi_fake, invoice)["line_items"]
    assert remote_line["account_identifier"]["id"] == sales["id"]


@pytest.mark.parametrize("client_schema,server_schema", [("guide", "reference"),
                                                          ("reference", "guide")])  # fmt: skip
def test_the_fake_refuses_the_other_schemas_keys(
    thredfi_fake, queue, committed, client_schema, server_schema
):
    thredfi_fake.line_schema = server_schema
    with override_settings(THREDFI={**settings.THREDFI, "LINE_SCHEMA": client_schema}):
        with committed():
            invoice = make_invoice()
        queue.drain()

    state = absorb.state_for(invoice)
    assert state.status == SyncStatus.NEEDS_ATTENTION
    assert state.last_error_status == 400
    price, account = ("unit_price", "account_identifier")
    if client_schema == "guide":
        price, account = "unit_price_cents", "account_code"
    assert {f"line_items[0].{price}", f"line_items[0].{account}"} <= set(state.last_error_fields)


def test_an_unknown_account_code_fails_locally_naming_the_code_and_the_business(
    thredfi_fake, queue, committed
):
    with committed():
        customer = make_customer()
    queue.drain()
    with committed():
        invoice = make_invoice(customer, lines=[(1, Decimal("10.00")), (1, Decimal("5.00"))])
        InvoiceLine.objects.filter(pk=invoice.lines.last().pk).update(account_code="4999")
    queue.drain()

    state = absorb.state_for(invoice)
    customer.account.refresh_from_db()
    assert state.status == SyncStatus.NEEDS_ATTENTION
    assert state.last_error_kind == "local_validation"
    (message,) = state.last_error_fields["line_items[1].account_code"]
    assert "'4999'" in message and str(customer.account.thredfi_id) in message
    assert posts(thredfi_fake, "/invoices/") == 0


def test_a_line_without_a_code_takes_the_default_for_its_parent(thredfi_fake, queue, committed):
    custom = {**settings.THREDFI, "ACCOUNT_CODES": {"invoice": "6000", "bill": "1000"}}
    with override_settings(THREDFI=custom):
        with committed():
            invoice = make_invoice()
            bill = make_bill()
            InvoiceLine.objects.update(account_code="")
            bill.lines.update(account_code="")
        queue.drain()
        invoice_line = invoice.get_thredfi_payload()["line_items"][0]
        bill_line = bill.get_thredfi_payload()["line_items"][0]

    assert (invoice_line["account_code"], bill_line["account_code"]) == ("6000", "1000")
    assert absorb.state_for(invoice).status == SyncStatus.SYNCED


def test_a_host_hook_picks_the_account_code(thredfi_fake, monkeypatch):
    business = thredfi_fake.add_business(settings.THREDFI["PARTNER_UUID"])
    invoice = make_invoice()
    invoice.account.thredfi_id = business["id"]
    monkeypatch.setattr(InvoiceLine, "get_thredfi_account_code", lambda line: "6000", raising=False)
    assert invoice.get_thredfi_payload()["line_items"][0]["account_code"] == "6000"


def test_the_chart_is_read_once_per_business_while_cached(thredfi_fake, queue, committed):
    with committed():
        first = make_invoice()
        make_invoice(first.customer)
        make_invoice(first.customer)
    assert {r.outcome for r in queue.drain()} == {"synced"}
    assert gets(thredfi_fake, "/chart-of-accounts/") == 1

    first.account.refresh_from_db()
    ledger.forget(str(first.account.thredfi_id))  # as thredfi_accounts does after a create
    with committed():
        make_invoice(first.customer)
    queue.drain()
    assert gets(thredfi_fake, "/chart-of-accounts/") == 2


def test_an_account_created_after_the_chart_was_cached_is_found(thredfi_fake, queue, committed):
    with committed():
        first = make_invoice()
    queue.drain()
    first.account.refresh_from_db()
    scope = get_client().business(str(first.account.thredfi_id))
    scope.accounts.create({"code": "4100", "name": "Services", "account_type": "revenue"})
    with committed():
        second = make_invoice(first.customer)
        second.lines.update(account_code="4100")
    queue.drain()

    assert absorb.state_for(second).status == SyncStatus.SYNCED
    assert gets(thredfi_fake, "/chart-of-accounts/") == 2  # the miss looked once more


def test_the_client_pages_through_a_chart_of_accounts(thredfi_fake):
    business = thredfi_fake.add_business(settings.THREDFI["PARTNER_UUID"])
    accounts = get_client().business(business["id"]).accounts
    for n in range(95):  # past one page of 100
        accounts.create({"code": f"7{n:03d}", "name": f"Overhead {n}", "account_type": "expense"})

    codes = [a["code"] for a in accounts.list()]
    assert len(codes) == len(set(codes)) == 8 + 95
    assert {"1000", "4000", "7094"} <= set(codes)


def synced_businesses(n: int) -> list:
    """``n`` businesses (with a customer each) in Thredfi, and no chart of accounts cached."""
    made = [make_customer(make_account()).pk for _ in range(n)]
    drain(worker="w")
    ledger.forget_all()
    cache.clear()
    return list(Customer.objects.select_related("account").filter(pk__in=made).order_by("pk"))


def test_a_drain_reads_the_charts_of_its_businesses_together_before_planning(
    thredfi_fake, published, monkeypatch
):
    customers = synced_businesses(3)
    for customer in customers:
        make_invoice(customer)
    reads: list[str] = []
    real_chart = ledger.chart

    def chart(business_id, **kwargs):
        reads.append(threading.current_thread().name)
        return real_chart(business_id, **kwargs)

    monkeypatch.setattr(ledger, "chart", chart)
    assert drain(worker="w") == 3

    # Three cold charts, read once each on the push threads (not one after another while
    # planning); the plans then found them cached.
    assert gets(thredfi_fake, "/chart-of-accounts/") == 3
    assert [name.startswith("thredfi-push") for name in reads[:3]] == [True, True, True]
    assert set(SyncState.objects.values_list("status", flat=True)) == {SyncStatus.SYNCED}


def test_charts_the_django_cache_holds_are_not_read_again(thredfi_fake, published):
    (customer,) = synced_businesses(1)
    make_invoice(customer)
    drain(worker="w")
    assert gets(thredfi_fake, "/chart-of-accounts/") == 1

    ledger.forget_all()  # a new worker process: only the Django cache has the chart
    invoice = make_invoice(customer)
    assert ledger.charts_to_read([invoice]) == []
    ledger.forget_all()
    drain(worker="w")
    assert gets(thredfi_fake, "/chart-of-accounts/") == 1


def test_only_objects_with_a_default_account_code_ask_for_their_chart(thredfi_fake, published):
    (customer,) = synced_businesses(1)
    invoice = make_invoice(customer)
    business_id = str(customer.account.thredfi_id)

    assert ledger.charts_to_read([invoice, customer]) == [business_id]
    codes = {**thredfi_settings.ACCOUNT_CODES, "invoice": ""}  # lines name their own, if any
    with override_settings(THREDFI={**settings.THREDFI, "ACCOUNT_CODES": codes}):
        assert ledger.charts_to_read([invoice]) == []


def test_a_chart_that_fails_to_load_first_is_read_again_by_the_plan(thredfi_fake, published):
    (customer,) = synced_businesses(1)
    invoice = make_invoice(customer)
    thredfi_fake.fail_next(count=1, status=403, path_contains="/chart-of-accounts/")

    drain(worker="w")

    assert absorb.state_for(invoice).status == SyncStatus.SYNCED
    assert gets(thredfi_fake, "/chart-of-accounts/") == 2


def test_a_business_hook_that_fails_fails_its_own_row_only(thredfi_fake, published, monkeypatch):
    good, bad = synced_businesses(2)
    ok, broken = make_invoice(good), make_invoice(bad)
    real_business = Invoice.get_thredfi_business

    def get_thredfi_business(invoice):
        if invoice.pk == broken.pk:
            raise RuntimeError("the host's business hook is broken")
        return real_business(invoice)

    monkeypatch.setattr(Invoice, "get_thredfi_business", get_thredfi_business)
    assert drain(worker="w") == 2

    assert absorb.state_for(ok).status == SyncStatus.SYNCED
    failed = absorb.state_for(broken)
    assert failed.status != SyncStatus.SYNCED
    assert "business hook is broken" in failed.last_error_message


def test_a_chart_that_keeps_failing_is_not_read_again_by_every_row(thredfi_fake, published):
    # Were each row to read a failing chart again, a hanging one would make each wait out its
    # timeout on the worker's only database thread while every other business's rows wait.
    failing, healthy = synced_businesses(2)
    stuck = [make_invoice(failing) for _ in range(5)]
    fine = make_invoice(healthy)
    failing_id = str(failing.account.thredfi_id)
    thredfi_fake.fail_next(count=50, status=500, path_contains=f"{failing_id}/general-ledger/")

    assert drain(worker="w") == 6

    # The failing chart: read before planning, once more by the first plan (a blip would be
    # over), then not again. The healthy one: read once.
    assert gets(thredfi_fake, "/chart-of-accounts/") == 2 + 1
    for invoice in stuck:
        state = absorb.state_for(invoice)
        assert state.status == SyncStatus.PENDING  # tried again after its backoff
        assert "HTTP 500" in state.last_error_message
    assert absorb.state_for(fine).status == SyncStatus.SYNCED
    assert posts(thredfi_fake, "/invoices/") == 1


def test_once_a_failing_chart_loads_again_the_retried_rows_sync(thredfi_fake, published):
    (customer,) = synced_businesses(1)
    invoices = [make_invoice(customer) for _ in range(3)]
    thredfi_fake.fail_next(count=2, status=500, path_contains="/chart-of-accounts/")
    drain(worker="w")
    assert {absorb.state_for(i).status for i in invoices} == {SyncStatus.PENDING}

    # Their backoff is over: the next wave reads the chart again, which now loads.
    SyncState.objects.filter(next_attempt_at__isnull=False).update(next_attempt_at=None)
    drain(worker="w")

    assert {absorb.state_for(i).status for i in invoices} == {SyncStatus.SYNCED}
    assert gets(thredfi_fake, "/chart-of-accounts/") == 3


def test_an_unknown_code_is_looked_up_once_more_not_once_a_row(thredfi_fake, published):
    (customer,) = synced_businesses(1)
    invoices = [make_invoice(customer) for _ in range(4)]
    InvoiceLine.objects.filter(invoice__in=invoices).update(account_code="4999")

    assert drain(worker="w") == 4

    # Read before planning, then once more for the missing code (an account created since
    # would be found); the other rows with the same code are refused without reading.
    assert gets(thredfi_fake, "/chart-of-accounts/") == 2
    assert {absorb.state_for(i).status for i in invoices} == {SyncStatus.NEEDS_ATTENTION}
    assert posts(thredfi_fake, "/invoices/") == 0


def test_outside_a_drain_every_look_at_a_chart_asks_thredfi(thredfi_fake, published):
    # An admin page or a command has no wave: what a drain learnt does not outlive its wave.
    (customer,) = synced_businesses(1)
    business_id = str(customer.account.thredfi_id)
    thredfi_fake.fail_next(count=3, status=500, path_contains="/chart-of-accounts/")
    for _ in range(3):
        with pytest.raises(ThredfiServerError):
            ledger.chart(business_id)

    assert "4000" in ledger.chart(business_id)
    assert gets(thredfi_fake, "/chart-of-accounts/") == 4
