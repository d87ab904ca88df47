"""The API contract as short stories, run against every target in conftest.py: the fake
in-process, the fake over HTTP, and the real sandbox when configured. A difference between them
fails a test that names the field (``expect``)."""

from __future__ import annotations

import uuid

import pytest

from thredfi_django.client import ThredfiClient, pagination
from thredfi_django.exceptions import (
    ThredfiAuthenticationError,
    ThredfiNotFoundError,
    ThredfiPermissionError,
    ThredfiValidationError,
)

pytestmark = pytest.mark.contract


def expect(record: dict, what: str, **types: type | tuple[type, ...]) -> None:
    """Each named field is present with a value of the given type; else fail naming it."""
    for field, kind in types.items():
        assert field in record, f"{what}: field {field!r} missing (fields: {sorted(record)})"
        value = record[field]
        assert isinstance(value, kind), (
            f"{what}: field {field!r} is {value!r} ({type(value).__name__}), expected {kind}"
        )


def customer(target, scope, what: str = "customer") -> dict:
    body = {"external_id": target.external_id(what), "individual_name": f"Ann {what}"}
    return scope.customers.create(body)


def line(target, scope, price_cents: int, quantity: int | str = 1) -> dict:
    """One line in the target's schema, booked to the sales account "4000"."""
    if target.line_schema == "guide":
        return {"quantity": quantity, "unit_price_cents": price_cents, "account_code": "4000"}
    (sales,) = [a for a in scope.accounts.list() if a.get("code") == "4000"]
    return {
        "quantity": quantity,
        "unit_price": price_cents,
        "account_identifier": {"type": "AccountId", "id": sales["id"]},
    }


def invoice_body(target, scope, party: dict, **fields) -> dict:
    return {
        "external_id": target.external_id("invoice"),
        "customer_id": party["id"],
        "sent_at": "2025-01-15T00:00:00Z",
        "due_at": "2025-02-14T00:00:00Z",
        "line_items": [line(target, scope, 1250, 2)],
        **fields,
    }


def test_a_business_is_created_once_per_external_id(target):
    first = target.client.businesses.create(target.business_body())
    again = target.client.businesses.create(target.business_body())

    assert (first.http_status, again.http_status) == (201, 200)
    assert again["id"] == first["id"]
    expect(first, "business", id=str, external_id=str, legal_name=str, entity_type=str,
           base_currency=str)  # fmt: skip
    assert (first["entity_type"], first["base_currency"]) == ("limited", "GBP")


def test_a_business_starts_with_the_accounts_our_lines_name(target):
    scope = target.new_business()
    accounts = list(scope.accounts.list())
    for account in accounts:
        expect(account, "ledger account", id=str, code=str, name=str, account_type=str)
    assert {"4000"} <= {a["code"] for a in accounts}


def test_a_customer_repeated_with_its_external_id_is_the_same_customer(target):
    scope = target.new_business()
    first, again = customer(target, scope), customer(target, scope)

    assert (first.http_status, again.http_status) == (201, 200)
    assert again["id"] == first["id"]
    expect(first, "customer", id=str, external_id=str, individual_name=str)


def test_an_invoice_is_created_repeated_updated_and_voided(target):
    scope = target.new_business()
    party = customer(target, scope)

    created = scope.invoices.create(invoice_body(target, scope, party))
    again = scope.invoices.create(invoice_body(target, scope, party))
    expect(created, "invoice", id=str, external_id=str, line_items=list)
    assert (created.http_status, again.http_status, again["id"]) == (201, 200, created["id"])
    assert created["total_amount"] == 2500

    updated = scope.invoices.update(
        created["id"], invoice_body(target, scope, party, memo="Thanks")
    )
    assert updated["memo"] == "Thanks"
    voided = scope.invoices.void(created["id"])
    assert voided.get("voided_at"), f"invoice: field 'voided_at' is {voided.get('voided_at')!r}"


def test_a_payment_replayed_with_its_idempotency_key_is_recorded_once(target):
    scope = target.new_business()
    party = customer(target, scope)
    invoice = scope.invoices.create(invoice_body(target, scope, party))
    body = {
        "external_id": target.external_id("payment"),
        "customer_id": party["id"],
        "total_amount_cents": 1000,
        "currency": "GBP",
        "payment_date": "2025-01-20",
        "payment_method": "bank_transfer",
        "allocations": [{"invoice_id": invoice["id"], "amount_cents": 1000}],
    }
    key = target.external_id("payment")

    first = scope.payments.create(body, idempotency_key=key)
    replay = scope.payments.create(body, idempotency_key=key)

    expect(first, "payment", id=str, total_amount_cents=int, status=str)
    assert (first.http_status, replay.http_status, replay["id"]) == (201, 200, first["id"])


def test_a_list_is_walked_page_by_page(target):
    scope = target.new_business()
    made = {customer(target, scope, f"paged-{n}")["id"] for n in range(5)}
    path = scope.customers.base_path

    seen = [
        record["id"]
        for record in pagination.iterate(
            lambda params: target.client.request(
                "GET", path, business_id=scope.business_id, params=params
            ),
            page_size=2,
            path=path,
        )
    ]
    assert len(seen) == len(set(seen)) == 5
    assert set(seen) == made


def test_an_invalid_body_is_a_400_naming_the_field(target):
    scope = target.new_business()
    party = customer(target, scope)
    with pytest.raises(ThredfiValidationError) as caught:
        scope.invoices.create(invoice_body(target, scope, party, line_items=[]))
    assert "line_items" in caught.value.field_errors, caught.value.field_errors


def test_an_unknown_record_is_a_404(target):
    scope = target.new_business()
    with pytest.raises(ThredfiNotFoundError):
        scope.invoices.get(str(uuid.uuid4()))


def test_wrong_credentials_are_a_401(target):
    client = ThredfiClient(target.client.partner_uuid, "not-the-key", target.client.base_url)
    with pytest.raises(ThredfiAuthenticationError):
        list(client.businesses.list())


def test_another_businesss_token_is_a_403(target):
    mine, theirs = target.new_business("mine"), target.new_business("theirs")
    with pytest.raises(ThredfiPermissionError):
        target.client.request("GET", theirs.customers.base_path, business_id=mine.business_id)


def sales_account(scope) -> dict:
    (sales,) = [a for a in scope.accounts.list() if a.get("code") == "4000"]
    return {"type": "AccountId", "id": sales["id"]}


def test_an_account_is_created_once_per_external_id(target):
    scope = target.new_business()
    body = {"code": "7100", "name": "Software", "account_type": "expense",
            "external_id": target.external_id("account")}  # fmt: skip
    first, again = scope.accounts.create(body), scope.accounts.create(body)

    expect(first, "ledger account", id=str, code=str, account_type=str)
    assert (first.http_status, again.http_status, again["id"]) == (201, 200, first["id"])


def test_a_customer_credit_is_applied_to_an_invoice_once(target):
    scope = target.new_business()
    party = customer(target, scope)
    invoice = scope.invoices.create(invoice_body(target, scope, party))
    body = {
        "external_id": target.external_id("credit"),
        "customer_id": party["id"],
        "source_invoice_id": invoice["id"],
        "line_items": [{"amount": 500, "revenue_account_identifier": sales_account(scope)}],
        "allocations": [{"amount": 500, "invoice_id": invoice["id"]}],
    }
    first, again = scope.customer_credits.create(body), scope.customer_credits.create(body)

    expect(first, "customer credit", id=str, line_items=list, allocations=list)
    assert (first.http_status, again.http_status, again["id"]) == (201, 200, first["id"])


def test_part_of_an_invoice_is_written_off(target):
    scope = target.new_business()
    invoice = scope.invoices.create(invoice_body(target, scope, customer(target, scope)))
    written_off = scope.write_offs.create({
        "invoice_id": invoice["id"], "external_id": target.external_id("write-off"),
        "amount_cents": 500, "write_off_at": "2025-03-31T00:00:00Z", "memo": "bad debt",
    })  # fmt: skip
    expect(written_off, "write-off", id=str, amount_cents=int)


def test_a_payout_repeated_with_its_external_id_is_updated(target):
    scope = target.new_business()
    body = {"external_id": target.external_id("payout"), "processor": "stripe",
            "paid_out_amount_cents": 900, "currency": "GBP"}  # fmt: skip
    first = scope.payouts.create(body)
    again = scope.payouts.create({**body, "fee_cents": 100})

    expect(first, "payout", id=str, paid_out_amount_cents=int)
    assert (first.http_status, again.http_status, again["id"]) == (201, 200, first["id"])
    assert again["fee_cents"] == 100


def test_a_vendor_refund_is_created_once_per_external_id(target):
    scope = target.new_business()
    vendor = scope.vendors.create({"external_id": target.external_id("vendor"),
                                   "company_name": "Paper Co"})  # fmt: skip
    body = {"external_id": target.external_id("vendor-refund"), "vendor_id": vendor["id"],
            "total_refunded_amount_cents": 500, "currency": "GBP"}  # fmt: skip
    first, again = scope.vendor_refunds.create(body), scope.vendor_refunds.create(body)

    expect(first, "vendor refund", id=str)
    assert (first.http_status, again.http_status, again["id"]) == (201, 200, first["id"])
