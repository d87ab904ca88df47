"""The fake's payouts: an upsert on external_id (200 = updated), frozen once reconciled."""

from __future__ import annotations

import pytest

from thredfi_django.testing.session import FakeApiSession


@pytest.fixture
def acme(thredfi_fake, settings):
    api = FakeApiSession(
        thredfi_fake.base_url, settings.THREDFI["PARTNER_UUID"], settings.THREDFI["API_KEY"]
    )
    return api.for_business(api.create_business()["id"])


@pytest.fixture
def payment(acme):
    customer = acme.created("customers/", {"external_id": "c-1", "company_name": "Globex"})
    return acme.created("invoices/payments/", {
        "customer_id": customer["id"], "total_amount_cents": 1_000_000, "external_id": "p-1",
    })  # fmt: skip


def test_payout_upsert_creates_then_updates(acme, payment, thredfi_fake):
    body = {"external_id": "po_1", "processor": "stripe", "paid_out_amount_cents": 970_000,
            "fee_cents": 30_000, "payment_ids": [payment["id"]], "status": "pending"}  # fmt: skip

    created = acme.post("payouts/", body)
    updated = acme.post("payouts/", {**body, "status": "paid"})

    assert created.status_code == 201
    assert created.json()["expected_net_amount_cents"] == 970_000
    assert created.json()["amount_variance_cents"] == 0
    assert created.json()["net_amount_cents"] == 940_000
    assert updated.status_code == 200
    assert updated.json()["id"] == created.json()["id"]
    assert updated.json()["status"] == "paid"
    assert thredfi_fake.count_by_external_id("payouts") == {"po_1": 1}


def test_payout_needs_existing_payments(acme):
    response = acme.post("payouts/", {"external_id": "po_2", "payment_ids": ["nope"]})

    assert response.status_code == 400
    assert "payment_ids" in response.json()["details"]


def test_a_reconciled_payout_cannot_change(acme, payment, thredfi_fake):
    payout = acme.created("payouts/", {"external_id": "po_3", "payment_ids": [payment["id"]]})
    thredfi_fake.store.tables["payouts"][payout["id"]]["reconciliation_status"] = "reconciled"

    response = acme.post("payouts/", {"external_id": "po_3", "memo": "late edit"})

    assert response.status_code == 409
    assert response.json()["error_code"] == "payout_reconciled"
