"""Refunds (refund → refund payment) and payables (vendor → bill → bill payment), via the fake."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.testapp.factories import (
    make_bill,
    make_bill_payment,
    make_invoice,
    make_payment,
    make_refund,
    make_refund_payment,
)
from tests.testapp.models import BillLine
from thredfi_django.engine import absorb
from thredfi_django.engine.drain import sync_state
from thredfi_django.models import SyncState, SyncStatus

pytestmark = pytest.mark.django_db


def test_a_refund_payment_brings_its_refund_invoice_customer_and_business_along(
    thredfi_fake, queue, committed
):
    with committed():
        invoice = make_invoice()
        make_payment(invoice)
        refund = make_refund(invoice, Decimal("25.00"))
        refund_payment = make_refund_payment(refund, Decimal("25.00"))
    result = sync_state(absorb.state_for(refund_payment).pk, worker="w")
    assert result.outcome == "synced"
    refund.refresh_from_db()
    (remote_refund,) = thredfi_fake.records("refunds")
    (remote_payment,) = thredfi_fake.records("refund_payments")
    assert remote_refund["id"] == str(refund.thredfi_id)
    assert remote_payment["refund_id"] == remote_refund["id"]
    assert remote_payment["external_id"] == refund_payment.get_thredfi_external_id()
    queue.drain()
    assert SyncState.objects.exclude(status=SyncStatus.SYNCED).count() == 0


def test_a_bill_payment_brings_its_bill_and_vendor_along_and_bills_update_with_put(
    thredfi_fake, queue, committed
):
    with committed():
        bill = make_bill(lines=[(2, Decimal("60.00"))])
        bill_payment = make_bill_payment(bill, Decimal("120.00"))
    result = sync_state(absorb.state_for(bill_payment).pk, worker="w")
    assert result.outcome == "synced"
    assert result.requests == 4, "business, vendor, bill, bill payment"
    queue.drain()
    (remote_bill,) = thredfi_fake.records("bills")
    (remote_payment,) = thredfi_fake.records("bill_payments")
    bill.refresh_from_db()
    assert remote_bill["id"] == str(bill.thredfi_id)
    assert remote_payment["allocations"][0]["bill_id"] == remote_bill["id"]

    with committed():
        BillLine.objects.create(bill=bill, description="Late fee", unit_price=Decimal("5.00"))
    assert [r.outcome for r in queue.drain()] == ["synced"]
    (remote_bill,) = thredfi_fake.records("bills")
    assert len(remote_bill["line_items"]) == 2


def test_deleting_a_vendor_archives_it_and_deleting_a_bill_needs_attention(
    thredfi_fake, queue, committed
):
    with committed():
        bill = make_bill()
    queue.drain()
    vendor = bill.vendor
    with committed():
        bill.delete()
        vendor.delete()
    outcomes = sorted(r.outcome for r in queue.drain())
    assert outcomes == ["needs_attention", "synced"]
    (remote_vendor,) = thredfi_fake.records("vendors")
    assert (remote_vendor["status"], remote_vendor["is_archived"]) == ("ARCHIVED", True)
    bill_state = SyncState.objects.get(resource="bill")
    assert "Thredfi has no delete for bills" in bill_state.last_error_message
