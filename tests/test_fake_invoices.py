"""The fake's receivables: invoices, payments, refunds — ordering rules, totals, idempotency."""

from __future__ import annotations

import pytest

from thredfi_django.testing.session import FakeApiSession


@pytest.fixture
def api(thredfi_fake, settings):
    return FakeApiSession(
        thredfi_fake.base_url, settings.THREDFI["PARTNER_UUID"], settings.THREDFI["API_KEY"]
    )


@pytest.fixture
def acme(api):
    return api.for_business(api.create_business()["id"])


@pytest.fixture
def customer(acme):
    return acme.created("customers/", {"external_id": "cust-1", "company_name": "Globex"})


def invoice_body(**overrides):
    return {
        "external_id": "inv-1",
        "customer_external_id": "cust-1",
        "sent_at": "2025-01-15",
        "due_at": "2025-02-15T00:00:00Z",
        "line_items": [
            {"description": "Widgets", "quantity": "3", "unit_price_cents": 1250},
            {"description": "Half hour", "quantity": "0.5", "unit_price_cents": 1001},
        ],
        **overrides,
    }


def test_an_invoice_before_its_customer_is_a_validation_error(acme):
    response = acme.post("invoices/", invoice_body())

    assert response.status_code == 400
    assert response.json()["error_code"] == "validation_error"
    assert "customer_external_id" in response.json()["details"]


def test_invoice_totals_round_half_up_and_take_the_business_currency(acme, customer):
    invoice = acme.created("invoices/", invoice_body())

    # 3 × 1250 = 3750; 0.5 × 1001 = 500.5 → 501 (half up)
    assert [line["subtotal"] for line in invoice["line_items"]] == [3750, 501]
    assert invoice["total_amount"] == 4251
    assert invoice["outstanding_balance"] == 4251
    assert invoice["status"] == "sent"
    assert invoice["currency"] == "GBP"
    assert invoice["customer"]["id"] == customer["id"]


def test_discounts_taxes_and_invoice_level_adjustments(acme, customer):
    line = {"quantity": 2, "unit_price_cents": 1000, "discount_amount": 100,
            "sales_taxes": [{"amount": 380}]}  # fmt: skip
    invoice = acme.created("invoices/", invoice_body(
        line_items=[line], additional_discount=50, additional_sales_taxes_total=10, tips=5,
    ))  # fmt: skip

    assert invoice["line_items"][0]["total_amount"] == 2000 - 100 + 380
    assert invoice["total_amount"] == 2280 - 50 + 10 + 5


def test_bad_lines_are_reported_per_line(acme, customer):
    response = acme.post("invoices/", invoice_body(line_items=[
        {"quantity": 0, "unit_price_cents": 100},
        {"quantity": "2", "unit_price_cents": 12.5},
        {"quantity": "abc"},
    ]))  # fmt: skip

    details = response.json()["details"]
    assert response.status_code == 400
    assert set(details) == {
        "line_items[0].quantity",
        "line_items[1].unit_price_cents",
        "line_items[2].quantity",
        "line_items[2].unit_price_cents",
    }


def test_invoice_in_another_currency_is_refused(acme, customer):
    response = acme.post("invoices/", invoice_body(currency="EUR"))

    assert response.status_code == 400
    assert "currency" in response.json()["details"]


def test_repeated_invoice_external_id_returns_the_existing_invoice(acme, customer, thredfi_fake):
    first = acme.post("invoices/", invoice_body())
    other_lines = [{"quantity": 1, "unit_price_cents": 1}]
    again = acme.post("invoices/", invoice_body(line_items=other_lines))

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["total_amount"] == first.json()["total_amount"]
    assert thredfi_fake.count_by_external_id("invoices") == {"inv-1": 1}


def test_put_replaces_fields_and_all_lines(acme, customer):
    invoice = acme.created("invoices/", invoice_body())

    updated = acme.put(f"invoices/{invoice['id']}/", {
        "memo": "Thanks", "line_items": [{"quantity": 1, "unit_price_cents": 999}],
    }).json()  # fmt: skip
    untouched = acme.put(f"invoices/{invoice['id']}/", {"memo": "Again"}).json()

    assert updated["memo"] == "Thanks"
    assert len(updated["line_items"]) == 1
    assert updated["total_amount"] == 999
    assert untouched["total_amount"] == 999
    assert untouched["due_at"] == "2025-02-15T00:00:00Z"


def pay(acme, customer, invoice, amount, headers=None, **extra):
    body = {
        "customer_id": customer["id"],
        "total_amount_cents": amount,
        "currency": "GBP",
        "payment_date": "2025-01-20",
        "allocations": [{"invoice_id": invoice["id"], "amount_cents": amount}],
        **extra,
    }
    return acme.post("invoices/payments/", body, headers=headers)


def test_payments_reduce_the_balance_and_move_the_status(acme, customer):
    invoice = acme.created("invoices/", invoice_body())

    partial = pay(acme, customer, invoice, 1000)
    after_partial = acme.get(f"invoices/{invoice['id']}/").json()
    pay(acme, customer, invoice, 3251)
    after_full = acme.get(f"invoices/{invoice['id']}/").json()

    assert partial.status_code == 201
    payment = partial.json()["payment"]
    assert payment["status"] == "completed"
    assert payment["applied_invoices"][0]["outstanding_amount_cents"] == 3251
    assert after_partial["status"] == "partially_paid"
    assert after_partial["outstanding_balance"] == 3251
    assert after_full["status"] == "paid"
    assert after_full["outstanding_balance"] == 0
    assert after_full["paid_at"]
    assert acme.get(f"customers/{customer['id']}/").json()["outstanding_balance"] == 0


def test_payment_ordering_and_amount_rules(acme, customer):
    invoice = acme.created("invoices/", invoice_body())
    body = {
        "customer_id": "00000000-0000-0000-0000-00000000000c",
        "total_amount_cents": 100, "currency": "EUR",
        "allocations": [
            {"invoice_id": "00000000-0000-0000-0000-00000000000f", "amount_cents": 50},
            {"invoice_id": invoice["id"], "amount_cents": 99999},
        ],
    }  # fmt: skip
    response = acme.post("invoices/payments/", body)

    # What the body alone shows comes first; what depends on other records once it is valid.
    assert response.status_code == 400
    assert set(response.json()["details"]) == {"currency", "allocations"}
    valid_body = {**body, "currency": "GBP", "total_amount_cents": 99999 + 50}
    details = acme.post("invoices/payments/", valid_body).json()["details"]
    assert set(details) == {
        "customer_id", "allocations[0].invoice_id", "allocations[1].amount_cents",
    }  # fmt: skip
    zero = acme.post("invoices/payments/", {"customer_id": customer["id"], "total_amount_cents": 0})
    assert "total_amount_cents" in zero.json()["details"]


def test_idempotency_key_replays_the_stored_payment_with_200(acme, customer, thredfi_fake):
    invoice = acme.created("invoices/", invoice_body())
    key = {"Idempotency-Key": "pay-1"}

    first = pay(acme, customer, invoice, 1000, headers=key)
    replay = pay(acme, customer, invoice, 1000, headers=key)
    conflict = pay(acme, customer, invoice, 2000, headers=key)

    assert (first.status_code, replay.status_code) == (201, 200)
    assert replay.json() == first.json()
    assert first.json()["payment"]["idempotency_key"] == "pay-1"
    assert conflict.status_code == 409
    assert conflict.json()["error_code"] == "idempotency_key_conflict"
    assert len(thredfi_fake.records("payments")) == 1
    assert acme.get(f"invoices/{invoice['id']}/").json()["outstanding_balance"] == 3251


def test_payment_external_id_is_idempotent_even_after_the_invoice_was_paid(acme, customer):
    invoice = acme.created("invoices/", invoice_body())

    first = pay(acme, customer, invoice, 4251, external_id="pay-ext-1")
    again = pay(acme, customer, invoice, 4251, external_id="pay-ext-1")

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["payment"]["id"] == first.json()["payment"]["id"]


def test_payments_list_filters_by_invoice(acme, customer):
    one = acme.created("invoices/", invoice_body())
    two = acme.created("invoices/", invoice_body(external_id="inv-2"))
    pay(acme, customer, one, 100)
    paid_two = pay(acme, customer, two, 200).json()["payment"]

    listed = acme.get("invoices/payments/", params={"invoice_id": two["id"]}).json()["results"]

    assert [p["id"] for p in listed] == [paid_two["id"]]
    assert acme.get(f"invoices/payments/{paid_two['id']}/").json()["total_amount_cents"] == 200


def test_void_is_idempotent_and_refused_once_paid(acme, customer):
    unpaid = acme.created("invoices/", invoice_body())
    paid = acme.created("invoices/", invoice_body(external_id="inv-2"))
    pay(acme, customer, paid, 100)

    voided = acme.post(f"invoices/{unpaid['id']}/void/")
    again = acme.post(f"invoices/{unpaid['id']}/void/")
    refused = acme.post(f"invoices/{paid['id']}/void/")

    assert voided.status_code == again.status_code == 200
    assert voided.json()["status"] == "voided"
    assert again.json()["voided_at"] == voided.json()["voided_at"]
    assert refused.status_code == 409
    assert refused.json()["error_code"] == "invalid_state"
    assert pay(acme, customer, unpaid, 100).status_code == 400


def test_refund_then_refund_payments(acme, customer):
    invoice = acme.created("invoices/", invoice_body())
    pay(acme, customer, invoice, 4251)
    orphan = acme.post("invoices/refunds/", {"invoice_id": "nope", "method": "CASH"})

    refund = acme.created("invoices/refunds/", {
        "invoice_id": invoice["id"], "external_id": "ref-1", "amount_cents": 1000,
        "method": "BANK_TRANSFER", "completed_at": "2025-01-21T10:00:00Z",
    })  # fmt: skip
    too_much = acme.post(f"invoices/refunds/{refund['id']}/payments/", {"amount_cents": 1001})
    paid_back = acme.post(f"invoices/refunds/{refund['id']}/payments/",
                          {"amount_cents": 1000, "external_id": "rp-1"})  # fmt: skip

    assert orphan.status_code == 400
    assert "invoice_id" in orphan.json()["details"]
    assert too_much.status_code == 400
    assert paid_back.status_code == 201
    assert acme.get(f"invoices/refunds/{refund['id']}/").json()["status"] == "completed"
    listed = acme.get(f"invoices/refunds/{refund['id']}/payments/").json()["results"]
    assert [p["external_id"] for p in listed] == ["rp-1"]


def test_refund_payment_for_an_unknown_refund_is_404(acme):
    response = acme.post("invoices/refunds/nope/payments/", {"amount_cents": 1})

    assert response.status_code == 404
    assert response.json()["error_code"] == "refund_not_found"


def test_customer_balance_follows_moves_payments_and_voids(acme, customer):
    other = acme.created("customers/", {"external_id": "cust-2", "company_name": "Initech"})
    one = acme.created("invoices/", invoice_body())
    two = acme.created("invoices/", invoice_body(external_id="inv-2"))

    def balance(who):
        return acme.get(f"customers/{who['id']}/").json()["outstanding_balance"]

    assert balance(customer) == 2 * 4251
    acme.put(f"invoices/{two['id']}/", {"customer_id": other["id"]})
    assert (balance(customer), balance(other)) == (4251, 4251)
    pay(acme, customer, one, 251)
    acme.post(f"invoices/{two['id']}/void/")
    assert (balance(customer), balance(other)) == (4000, 0)


def test_a_record_removed_on_thredfis_side_is_gone_and_can_be_created_again(
    acme, customer, thredfi_fake
):
    invoice = acme.created("invoices/", invoice_body())
    paid = pay(acme, customer, invoice, 100).json()["payment"]

    removed = thredfi_fake.remove_record("invoices", invoice["id"])

    assert removed["external_id"] == "inv-1"
    assert acme.get(f"invoices/{invoice['id']}/").status_code == 404
    assert acme.get(f"invoices/payments/{paid['id']}/").json()["allocations"] == []
    assert acme.post("invoices/", invoice_body()).status_code == 201
