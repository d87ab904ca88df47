"""Credit notes: customer credits against invoices and vendor credits against bills, pushed
after what they point at, booked to ledger accounts, and checked before sending."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.testapp.factories import (
    make_bill,
    make_customer_credit,
    make_invoice,
    make_payment,
    make_vendor_credit,
)
from tests.testapp.models import CustomerCreditLine
from thredfi_django.engine.absorb import state_for
from thredfi_django.exceptions import ThredfiLocalValidationError
from thredfi_django.models import SyncStatus

pytestmark = pytest.mark.django_db


def account_id(fake, business_id: str, code: str) -> str:
    (account,) = [a for a in fake.records("accounts", business_id) if a["code"] == code]
    return account["id"]


def errors_of(obj) -> dict:
    with pytest.raises(ThredfiLocalValidationError) as caught:
        obj.validate_for_thredfi()
    return caught.value.field_errors


def test_a_customer_credit_is_booked_to_revenue_and_reduces_what_the_invoice_owes(
    thredfi_fake, queue, committed
):
    with committed():
        invoice = make_invoice(lines=[(1, Decimal("100.00"))])
        credit = make_customer_credit(
            invoice, lines=(Decimal("20.00"), Decimal("5.00")), allocate=Decimal("25.00")
        )
    assert {r.outcome for r in queue.drain()} == {"synced"}

    invoice.refresh_from_db()
    business_id = str(invoice.account.thredfi_id)
    (remote,) = thredfi_fake.records("customer_credits")
    sales = {"type": "AccountId", "id": account_id(thredfi_fake, business_id, "4000")}
    assert [
        (line["amount"], line["revenue_account_identifier"]) for line in remote["line_items"]
    ] == [
        (2000, sales),
        (500, sales),
    ]
    assert remote["source_invoice_id"] == str(invoice.thredfi_id)
    assert remote["allocations"][0]["amount_cents"] == 2500
    (remote_invoice,) = thredfi_fake.records("invoices")
    assert remote_invoice["outstanding_balance"] == 10000 - 2500
    assert state_for(credit).status == SyncStatus.SYNCED


def test_a_vendor_credit_is_booked_to_expenses_and_reduces_what_the_bill_owes(
    thredfi_fake, queue, committed
):
    with committed():
        bill = make_bill(lines=((1, Decimal("120.00")),))
        make_vendor_credit(bill, lines=(Decimal("20.00"),), allocate=Decimal("20.00"))
    assert {r.outcome for r in queue.drain()} == {"synced"}

    bill.refresh_from_db()
    (remote,) = thredfi_fake.records("vendor_credits")
    expense = account_id(thredfi_fake, str(bill.account.thredfi_id), "5000")
    assert remote["line_items"][0]["expense_account_identifier"]["id"] == expense
    assert thredfi_fake.records("bills")[0]["outstanding_balance"] == 12000 - 2000


def test_credits_and_payments_together_may_not_exceed_the_invoice():
    invoice = make_invoice(lines=[(1, Decimal("100.00"))])
    make_payment(invoice, Decimal("60.00"))
    credit = make_customer_credit(invoice, lines=(Decimal("50.00"),), allocate=Decimal("50.00"))
    (message,) = errors_of(credit)["allocations[0].amount"]
    assert "exceeds what it has outstanding, 40.00" in message


def test_a_credit_is_checked_before_sending(thredfi_fake):
    invoice = make_invoice(lines=[(1, Decimal("100.00"))])
    credit = make_customer_credit(invoice, lines=(Decimal("10.00"),), allocate=Decimal("15.00"))
    CustomerCreditLine.objects.create(credit=credit, amount=Decimal("-1.00"))

    errors = errors_of(credit)
    assert errors["line_items[1].amount"] == ["Must be greater than 0 (got -1.00)."]
    assert errors["allocations"] == [
        "The allocations add up to 15.00, more than the credit note's 10.00."
    ]


def test_an_unknown_account_code_on_a_credit_line_fails_locally(thredfi_fake, queue, committed):
    with committed():
        invoice = make_invoice()
    queue.drain()
    with committed():
        credit = make_customer_credit(invoice)
        credit.lines.update(account_code="4999")
    queue.drain()

    state = state_for(credit)
    assert state.status == SyncStatus.NEEDS_ATTENTION
    assert "'4999'" in state.last_error_fields["line_items[0].account_code"][0]
    assert thredfi_fake.records("customer_credits") == []


def test_a_credit_changed_after_its_push_needs_attention(thredfi_fake, queue, committed):
    with committed():
        credit = make_customer_credit(make_invoice())
    queue.drain()
    credit.issued_on = None
    with committed():
        credit.save()
    queue.drain()

    state = state_for(credit)
    assert state.status == SyncStatus.NEEDS_ATTENTION
    assert "no update endpoint for customer credits" in state.last_error_message
