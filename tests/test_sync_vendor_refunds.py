"""Vendor refunds: money a vendor sends back, allocated to the bills it concerns."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.conf import settings

from tests.testapp.factories import make_bill, make_bill_payment, make_vendor_refund
from tests.testapp.models import VendorRefundAllocation
from thredfi_django.client import get_client
from thredfi_django.engine.absorb import state_for
from thredfi_django.exceptions import (
    ThredfiLocalValidationError,
    ThredfiPermissionError,
    ThredfiValidationError,
)
from thredfi_django.models import SyncStatus

pytestmark = pytest.mark.django_db


def test_a_refund_of_an_overpaid_bill_is_pushed_with_its_allocation(thredfi_fake, queue, committed):
    with committed():
        bill = make_bill(lines=((1, Decimal("100.00")),))
        make_bill_payment(bill, Decimal("100.00"))
        refund = make_vendor_refund(bill, Decimal("15.00"), refund_type="billing_error")
    assert {r.outcome for r in queue.drain()} == {"synced"}

    bill.refresh_from_db()
    (remote,) = thredfi_fake.records("vendor_refunds")
    assert (remote["total_refunded_amount_cents"], remote["currency"]) == (1500, "GBP")
    assert (remote["refund_type"], remote["refund_date"]) == ("billing_error", "2026-11-24")
    assert remote["allocations"][0]["bill_id"] == str(bill.thredfi_id)
    assert remote["allocations"][0]["allocation_type"] == "bill"
    assert state_for(refund).status == SyncStatus.SYNCED


def test_a_fully_paid_bill_may_still_take_a_refund_but_not_more_than_the_refund():
    bill = make_bill(lines=((1, Decimal("100.00")),))
    make_bill_payment(bill, Decimal("100.00"))
    refund = make_vendor_refund(bill, Decimal("15.00"))
    refund.validate_for_thredfi()  # nothing outstanding on the bill: not a limit for refunds

    VendorRefundAllocation.objects.filter(refund=refund).update(amount=Decimal("20.00"))
    with pytest.raises(ThredfiLocalValidationError) as caught:
        refund.validate_for_thredfi()
    assert caught.value.field_errors == {
        "allocations": ["The allocations add up to 20.00, more than the vendor refund's 15.00."]
    }


def test_the_fake_keeps_vendor_refunds_to_business_tokens_and_their_patch_narrow(thredfi_fake):
    business = thredfi_fake.add_business(settings.THREDFI["PARTNER_UUID"])
    client = get_client()
    scope = client.business(business["id"])
    vendor = scope.vendors.create({"external_id": "v", "company_name": "Paper Co"})
    body = {"external_id": "vr-1", "vendor_id": vendor["id"],
            "total_refunded_amount_cents": 500, "currency": "GBP"}  # fmt: skip

    created, again = scope.vendor_refunds.create(body), scope.vendor_refunds.create(body)
    assert (created.http_status, again.http_status, again["id"]) == (201, 200, created["id"])
    assert scope.vendor_refunds.update(created["id"], {"memo": "cheque"})["memo"] == "cheque"
    with pytest.raises(ThredfiValidationError) as caught:
        scope.vendor_refunds.update(created["id"], {"total_refunded_amount_cents": 1})
    assert "total_refunded_amount_cents" in caught.value.field_errors
    with pytest.raises(ThredfiPermissionError):
        client.request("GET", scope.vendor_refunds.base_path)  # the partner token
    scope.vendor_refunds.delete(created["id"])
    assert list(scope.vendor_refunds.list()) == []


def test_a_refund_and_its_payment_in_one_request_replay_with_their_idempotency_key(thredfi_fake):
    business = thredfi_fake.add_business(settings.THREDFI["PARTNER_UUID"])
    scope = get_client().business(business["id"])
    vendor = scope.vendors.create({"external_id": "v", "company_name": "Paper Co"})
    body = {"vendor_id": vendor["id"], "total_amount_cents": 700, "processing_fee_cents": 20,
            "payment_method": "bank_transfer", "refund_type": "overpayment"}  # fmt: skip

    first = scope.vendor_refund_payments.create(body, idempotency_key="vrp-1")
    replay = scope.vendor_refund_payments.create(body, idempotency_key="vrp-1")

    assert (first.http_status, replay.http_status) == (201, 200)
    assert replay["payment"]["id"] == first["payment"]["id"]
    assert first["refund"]["total_refunded_amount_cents"] == 700
    assert first["payment"]["net_amount_cents"] == 680
    (listed,) = scope.vendor_refund_payments.list()
    assert listed["refund_id"] == first["refund"]["id"]
    assert scope.vendor_refund_payments.get(listed["id"])["refund"]["id"] == first["refund"]["id"]
