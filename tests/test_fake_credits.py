"""The fake's credit notes: the documented body, idempotency, and the allocation rules."""

from __future__ import annotations

import pytest

from thredfi_django.testing.session import FakeApiSession


@pytest.fixture
def acme(thredfi_fake, settings):
    api = FakeApiSession(
        thredfi_fake.base_url, settings.THREDFI["PARTNER_UUID"], settings.THREDFI["API_KEY"]
    )
    return api.for_business(api.create_business()["id"])


def account(acme, code: str) -> dict:
    (found,) = [a for a in acme.get("general-ledger/chart-of-accounts/").json()["results"]
                if a["code"] == code]  # fmt: skip
    return {"type": "AccountId", "id": found["id"]}


@pytest.fixture
def invoice(acme):
    acme.created("customers/", {"external_id": "c-1", "individual_name": "Ann"})
    return acme.created("invoices/", {
        "external_id": "inv-1", "customer_external_id": "c-1",
        "line_items": [{"quantity": 1, "unit_price_cents": 10000, "account_code": "4000"}],
    })  # fmt: skip


def credit(acme, invoice, amount=2000, allocated=2000, **overrides):
    return {
        "external_id": "cc-1",
        "customer_id": invoice["customer"]["id"],
        "line_items": [{"amount": amount, "revenue_account_identifier": account(acme, "4000")}],
        "allocations": [{"invoice_id": invoice["id"], "amount": allocated}],
        **overrides,
    }


def test_a_customer_credit_is_created_once_and_applied_to_its_invoice(acme, invoice):
    first = acme.post("customer-credits/", credit(acme, invoice))
    again = acme.post("customer-credits/", credit(acme, invoice))

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert acme.get(f"invoices/{invoice['id']}/").json()["outstanding_balance"] == 8000


def test_credit_lines_take_only_the_account_identifier(acme, invoice):
    body = credit(acme, invoice)
    body["line_items"] = [{"amount": 2000, "account_code": "4000"}]
    details = acme.post("customer-credits/", body).json()["details"]
    assert set(details) == {
        "line_items[0].account_code", "line_items[0].revenue_account_identifier",
    }  # fmt: skip


def test_allocations_are_bounded_by_the_invoice_and_by_the_credit(acme, invoice):
    over_credit = acme.post("customer-credits/", credit(acme, invoice, allocated=2001))
    over_invoice = acme.post(
        "customer-credits/", credit(acme, invoice, amount=20000, allocated=10001)
    )
    assert "allocations" in over_credit.json()["details"]
    assert "allocations[0].amount" in over_invoice.json()["details"]


def test_a_vendor_credit_may_create_its_vendor(acme):
    body = {
        "external_id": "vc-1",
        "vendor_external_id": "ven-new",
        "received_at": "2025-01-10T00:00:00Z",
        "line_items": [{"amount": 700, "expense_account_identifier": account(acme, "5000")}],
    }
    created = acme.post("vendor-credits/", body)

    assert created.status_code == 201, created.text
    assert created.json()["vendor"]["external_id"] == "ven-new"
    vendors = acme.get("vendors/", params={"external_id": "ven-new"}).json()["results"]
    assert [v["id"] for v in vendors] == [created.json()["vendor"]["id"]]
