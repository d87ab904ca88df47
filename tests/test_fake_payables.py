"""The fake's payables: vendors → bills → bill payments (ordering, totals, cancellation)."""

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
def vendor(acme):
    return acme.created("vendors/", {"external_id": "ven-1", "company_name": "Paper Co"})


def bill_body(**overrides):
    return {
        "external_id": "bill-1",
        "vendor_external_id": "ven-1",
        "bill_date": "2025-01-10",
        "line_items": [{"description": "Paper", "quantity": 4, "unit_price_cents": 2500}],
        **overrides,
    }


def test_vendor_needs_a_name_and_is_idempotent(acme, thredfi_fake):
    nameless = acme.post("vendors/", {"external_id": "v"})
    first = acme.post("vendors/", {"external_id": "v", "individual_name": "Bob"})
    again = acme.post("vendors/", {"external_id": "v", "individual_name": "Bob"})

    assert nameless.status_code == 400
    assert "individual_name" in nameless.json()["details"]
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["type"] == "VendorData"
    assert thredfi_fake.count_by_external_id("vendors") == {"v": 1}


def test_archived_vendors_are_listed_only_with_include_archived(acme, vendor):
    acme.post(f"vendors/{vendor['id']}/archive/")

    hidden = acme.get("vendors/", params={"external_id": "ven-1"}).json()["results"]
    shown = acme.get("vendors/", params={"external_id": "ven-1", "include_archived": "true"})

    assert hidden == []
    assert shown.json()["results"][0]["status"] == "ARCHIVED"


def test_only_an_archived_vendor_can_be_unarchived_and_archiving_twice_is_harmless(acme, vendor):
    path = f"vendors/{vendor['id']}/"

    not_archived = acme.post(path + "unarchive/")
    archived = acme.post(path + "archive/")
    again = acme.post(path + "archive/")
    restored = acme.post(path + "unarchive/")

    assert not_archived.status_code == 400
    assert "is_archived" in not_archived.json()["details"]
    assert (archived.json()["status"], again.status_code) == ("ARCHIVED", 200)
    assert (restored.status_code, restored.json()["status"]) == (200, "ACTIVE")
    assert restored.json()["is_archived"] is False


def test_a_bill_needs_an_existing_vendor(acme):
    response = acme.post("bills/", bill_body())

    assert response.status_code == 400
    assert "vendor_external_id" in response.json()["details"]


def test_bill_totals_and_put_replacing_lines(acme, vendor):
    bill = acme.created("bills/", bill_body())

    lines = [{"quantity": 1, "unit_price_cents": 7}]
    updated = acme.put(f"bills/{bill['id']}/", {"line_items": lines})

    assert bill["total_amount"] == 10000
    assert bill["vendor"]["id"] == vendor["id"]
    assert bill["status"] == "received"
    assert updated.json()["total_amount"] == 7
    assert len(updated.json()["line_items"]) == 1


def test_bill_payment_allocations_must_point_at_existing_bills(acme, vendor):
    bill = acme.created("bills/", bill_body())
    response = acme.post("bills/payments/", {
        "vendor_id": vendor["id"], "amount_cents": 500,
        "allocations": [{"bill_id": "nope", "amount_cents": 100},
                        {"bill_id": bill["id"], "amount_cents": 600}],
    })  # fmt: skip

    assert response.status_code == 400
    assert set(response.json()["details"]) == {"allocations[0].bill_id", "allocations"}
    over = acme.post("bills/payments/", {
        "vendor_id": vendor["id"], "amount_cents": 20000,
        "allocations": [{"bill_id": bill["id"], "amount_cents": 10001}],
    })  # fmt: skip
    assert set(over.json()["details"]) == {"allocations[0].amount_cents"}


def test_bill_payment_pays_the_bill_and_only_pending_ones_cancel(acme, vendor):
    bill = acme.created("bills/", bill_body())
    allocations = [{"bill_id": bill["id"], "amount_cents": 10000}]
    done = acme.created(
        "bills/payments/",
        {
            "vendor_id": vendor["id"],
            "amount_cents": 10000,
            "external_id": "bp-1",
            "allocations": allocations,
        },
    )
    refused = acme.post(f"bills/payments/{done['id']}/delete/")

    assert acme.get(f"bills/{bill['id']}/").json()["status"] == "paid"
    assert refused.status_code == 409

    acme.patch(f"bills/payments/{done['id']}/", {"status": "failed"})
    cancelled = acme.post(f"bills/payments/{done['id']}/delete/")

    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert acme.get(f"bills/{bill['id']}/").json()["outstanding_balance"] == 10000


def test_bill_payment_patch_refuses_fixed_fields(acme, vendor):
    payment = acme.created("bills/payments/", {"vendor_id": vendor["id"], "amount_cents": 10})

    response = acme.patch(f"bills/payments/{payment['id']}/", {"amount_cents": 11, "memo": "x"})

    assert response.status_code == 400
    assert set(response.json()["details"]) == {"amount_cents"}
