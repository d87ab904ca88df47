"""Client operations on the documents beyond create: cancelling a bill payment, upserting a
payout (against the fake, through the real client)."""

from __future__ import annotations

import pytest
from django.conf import settings

from thredfi_django.client import get_client
from thredfi_django.exceptions import ThredfiConflictError


@pytest.fixture
def acme(thredfi_fake):
    business = thredfi_fake.add_business(settings.THREDFI["PARTNER_UUID"])
    return get_client().business(business["id"])


@pytest.fixture
def bill(acme):
    vendor = acme.vendors.create({"external_id": "v-1", "company_name": "Paper Co"})
    return acme.bills.create({
        "external_id": "b-1", "vendor_id": vendor["id"], "bill_date": "2025-01-10",
        "line_items": [{"quantity": 1, "unit_price_cents": 5000, "account_code": "5000"}],
    })  # fmt: skip


def test_a_pending_bill_payment_is_cancelled_and_a_completed_one_is_refused(acme, bill):
    def pay(external_id, status):
        return acme.bill_payments.create({
            "external_id": external_id, "vendor_id": bill["vendor"]["id"], "amount_cents": 1000,
            "status": status, "allocations": [{"bill_id": bill["id"], "amount_cents": 1000}],
        })  # fmt: skip

    pending, completed = pay("bp-1", "pending"), pay("bp-2", "completed")

    assert acme.bill_payments.cancel(pending["id"])["status"] == "cancelled"
    with pytest.raises(ThredfiConflictError):
        acme.bill_payments.cancel(completed["id"])
    assert acme.bills.get(bill["id"])["outstanding_balance"] == 5000 - 1000


def test_a_payout_is_upserted_on_its_external_id(acme):
    body = {"external_id": "po-1", "processor": "stripe", "paid_out_amount_cents": 900}
    created = acme.payouts.create(body)
    updated = acme.payouts.upsert(created["id"], {**body, "fee_cents": 100})

    assert (created.http_status, updated.http_status) == (201, 200)
    assert (updated["id"], updated["fee_cents"]) == (created["id"], 100)
    assert [p["id"] for p in acme.payouts.list()] == [created["id"]]
