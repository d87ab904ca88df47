"""`manage.py thredfi_reconcile`: compare Thredfi with the local objects by external_id."""

import uuid
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tests.testapp.factories import (
    make_bill,
    make_bill_payment,
    make_customer_credit,
    make_invoice,
    make_payment,
    make_refund,
    make_refund_payment,
    make_vendor_refund,
)
from tests.testapp.models import BillLine, Invoice, InvoiceLine, VendorRefund
from thredfi_django.client import get_client
from thredfi_django.engine.absorb import state_for
from thredfi_django.models import SyncState, SyncStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def synced(committed, thredfi_fake):
    """An invoice with a payment, all pushed to the fake."""
    invoice = make_invoice()
    make_payment(invoice)
    with committed():
        call_command("thredfi_sync", "--now", stdout=StringIO())
    assert set(SyncState.objects.values_list("status", flat=True)) == {SyncStatus.SYNCED}
    invoice.refresh_from_db()
    return invoice


def reconcile(*args):
    """(output, CommandError or None)."""
    out = StringIO()
    try:
        call_command("thredfi_reconcile", *args, stdout=out)
    except CommandError as err:
        return out.getvalue(), err
    return out.getvalue(), None


def forget_remotely(fake, resource, record_id):
    """As if someone deleted the record in Thredfi."""
    record = fake.store.tables[resource].pop(record_id)
    fake.store.by_business[(resource, record["business_id"])].pop(record_id)


def test_in_sync_reports_no_drift_and_exits_0(synced):
    output, error = reconcile()
    assert error is None
    assert "customers: 1 local, 1 remote with external_id, all match" in output
    assert "invoices: 1 local, 1 remote with external_id, all match" in output
    assert "payments: 1 local, 1 remote with external_id, all match" in output
    assert "No drift" in output


def test_a_lost_create_response_is_found_and_fixed_with_fix(synced, thredfi_fake):
    remote_id = str(synced.thredfi_id)
    # The create reached Thredfi but its response was lost: no id locally.
    Invoice.objects.filter(pk=synced.pk).update(thredfi_id=None)
    SyncState.objects.filter(pk=state_for(synced).pk).update(remote_id=None)

    output, error = reconcile()
    assert error is not None and error.returncode == 1
    assert f"invoice 'Invoice {synced.number}' (#{synced.pk}): Thredfi ID missing" in output
    assert "Run again with --fix" in str(error)
    synced.refresh_from_db()
    assert synced.thredfi_id is None  # report only by default

    output, error = reconcile("--fix")
    assert error is None
    assert "✓ fixed" in output
    synced.refresh_from_db()
    assert str(synced.thredfi_id) == remote_id
    assert str(state_for(synced).remote_id) == remote_id
    assert thredfi_fake.count_by_external_id("invoices") == {synced.get_thredfi_external_id(): 1}
    assert reconcile()[1] is None


def test_amounts_are_compared_in_cents(synced, queue, committed):
    InvoiceLine.objects.filter(invoice=synced).update(unit_price=Decimal("51.00"))  # no signal
    output, error = reconcile()
    assert error is not None
    assert "amount 10200 cents locally, 10000 cents in Thredfi" in output

    queue.clear()
    with committed():
        output, error = reconcile("--fix")
    assert error is None
    assert state_for(synced).pk in queue.ids  # the local invoice is pushed again
    assert state_for(synced).status == SyncStatus.PENDING


def test_records_missing_in_thredfi_are_reported_and_re_pushed_with_fix(synced, thredfi_fake):
    forget_remotely(thredfi_fake, "payments", thredfi_fake.records("payments")[0]["id"])
    output, error = reconcile()
    assert error is not None
    assert "payment" in output and ": not in Thredfi" in output

    output, error = reconcile("--fix")
    assert error is None
    payment_state = SyncState.objects.get(resource="payment")
    assert payment_state.remote_id is None and payment_state.status == SyncStatus.PENDING


def test_remote_records_without_a_local_object(synced):
    scope = get_client().business(str(synced.account.thredfi_id))
    ours = f"dj:tests:testapp.customer:{uuid.uuid4().int}"
    scope.customers.create({"external_id": ours, "individual_name": "Ghost"})
    scope.customers.create({"external_id": "crm-42", "individual_name": "Made in Thredfi"})

    output, error = reconcile("--fix")
    assert error is not None  # never deleted remotely, so the drift remains
    assert f"customer {ours}" in output and "no local object" in output
    assert "1 remote customer(s) not created by this platform (left alone)" in output
    assert "crm-42" not in output


def test_one_business_by_external_id(synced):
    other = make_invoice()
    external_id = state_for(synced.account).external_id
    output, error = reconcile("--business", external_id)
    assert error is None
    assert str(synced.account.thredfi_id) in output
    assert f"Invoice {other.number}" not in output

    output, error = reconcile("--business", "nope")
    assert "No business matches 'nope'" in str(error)


def test_objects_not_pushed_yet_are_noted_not_counted_as_drift(synced):
    make_invoice(synced.customer)  # saved, its push not run yet
    output, error = reconcile()
    assert error is None
    assert "1 invoice(s) not pushed to Thredfi yet" in output


def section(output: str, label: str) -> str:
    """The lines of ``output`` under the heading naming ``label``, up to the next heading."""
    start = output.index(label)
    following = output.find("\n[", start)
    return output[start : following if following != -1 else len(output)]


def test_notes_are_reported_under_their_own_business_and_counts_never_read_all_match(
    synced, committed
):
    northwind = make_invoice()
    with committed():
        call_command("thredfi_sync", "--now", stdout=StringIO())
    northwind.account.refresh_from_db()
    make_invoice(synced.customer)  # Acme's, saved but not pushed yet

    output, error = reconcile()
    assert error is None
    acme = section(output, synced.account.legal_name)
    other = section(output, northwind.account.legal_name)
    assert "1 invoice(s) not pushed to Thredfi yet" in acme
    assert "not pushed" not in other
    assert "invoices: 2 local, 1 remote with external_id, no drift; counts differ" in acme
    assert "invoices: 1 local, 1 remote with external_id, all match" in other


def test_bills_and_bill_payments_are_compared_too(committed, thredfi_fake):
    bill = make_bill(lines=((1, Decimal("120.00")),))
    make_bill_payment(bill, Decimal("20.00"))
    with committed():
        call_command("thredfi_sync", "--now", stdout=StringIO())
    BillLine.objects.filter(bill=bill).update(unit_price=Decimal("121.00"))  # no signal

    output, error = reconcile()
    assert error is not None
    assert "vendors: 1 local, 1 remote with external_id, all match" in output
    assert "bill_payments: 1 local, 1 remote with external_id, all match" in output
    assert "amount 12100 cents locally, 12000 cents in Thredfi" in output


def test_refunds_and_their_payments_are_compared_too(synced, committed):
    refund = make_refund(synced, Decimal("30.00"))
    make_refund_payment(refund, Decimal("30.00"))
    with committed():
        call_command("thredfi_sync", "--now", stdout=StringIO())

    output, error = reconcile()
    assert error is None
    assert "refunds: 1 local, 1 remote with external_id, all match" in output
    assert "refund_payments: 1 local, 1 remote with external_id, all match" in output


def test_credit_notes_and_vendor_refunds_are_compared_too(committed, thredfi_fake):
    bill = make_bill(lines=((1, Decimal("100.00")),))
    make_bill_payment(bill, Decimal("100.00"))
    make_vendor_refund(bill, Decimal("15.00"))
    make_customer_credit(make_invoice(), allocate=Decimal("20.00"))
    with committed():
        call_command("thredfi_sync", "--now", stdout=StringIO())
    VendorRefund.objects.update(amount=Decimal("16.00"))  # no signal

    output, error = reconcile()
    assert error is not None
    assert "customer_credits: 1 local, 1 remote with external_id, all match" in output
    assert "vendor_refunds: 1 local, 1 remote with external_id, 1 difference(s)" in output
    assert "amount 1600 cents locally, 1500 cents in Thredfi" in output
