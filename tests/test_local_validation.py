"""What the docs make knowable is refused locally, before a request is spent on it: allocations
above what a document has outstanding, and methods outside the documented sets."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.testapp.factories import (
    make_bill,
    make_bill_payment,
    make_invoice,
    make_payment,
    make_refund,
)
from tests.testapp.models import PaymentAllocation
from thredfi_django.engine.absorb import state_for
from thredfi_django.exceptions import ThredfiLocalValidationError
from thredfi_django.models import SyncStatus

pytestmark = pytest.mark.django_db


def errors_of(obj) -> dict:
    with pytest.raises(ThredfiLocalValidationError) as info:
        obj.validate_for_thredfi()
    return info.value.field_errors


def test_an_allocation_above_the_invoices_outstanding_amount_is_refused():
    invoice = make_invoice(lines=[(Decimal("1"), Decimal("100.00"))])
    make_payment(invoice, Decimal("60.00"))
    second = make_payment(invoice, Decimal("50.00"))

    (message,) = errors_of(second)["allocations[0].amount_cents"]
    assert "50.00 allocated to invoice" in message and "outstanding, 40.00" in message
    PaymentAllocation.objects.filter(payment=second).update(amount=Decimal("40.00"))
    second.refresh_from_db()
    second.validate_for_thredfi()  # exactly what is left is fine


def test_two_allocations_to_one_invoice_count_together():
    invoice = make_invoice(lines=[(Decimal("1.5"), Decimal("10.01"))])  # 1501.5 → 1502 cents
    payment = make_payment(invoice, Decimal("15.03"))
    PaymentAllocation.objects.filter(payment=payment).update(amount=Decimal("7.51"))
    PaymentAllocation.objects.create(payment=payment, invoice=invoice, amount=Decimal("7.52"))

    errors = errors_of(payment)
    assert set(errors) == {"allocations[0].amount_cents", "allocations[1].amount_cents"}
    assert "15.03 allocated to invoice" in errors["allocations[1].amount_cents"][0]
    assert "exceeds what it has outstanding, 15.02" in errors["allocations[1].amount_cents"][0]


def test_allocations_may_not_add_up_to_more_than_the_payment():
    invoice = make_invoice(lines=[(Decimal("1"), Decimal("100.00"))])
    payment = make_payment(invoice, Decimal("40.00"))
    PaymentAllocation.objects.filter(payment=payment).update(amount=Decimal("50.00"))

    assert errors_of(payment) == {
        "allocations": ["The allocations add up to 50.00, more than the payment's 40.00."]
    }


def test_a_bill_payment_above_the_bills_outstanding_amount_is_refused():
    bill = make_bill(lines=((1, Decimal("120.00")),))
    make_bill_payment(bill, Decimal("100.00"))
    second = make_bill_payment(bill, Decimal("30.00"))

    assert "outstanding, 20.00" in errors_of(second)["allocations[0].amount_cents"][0]


@pytest.mark.parametrize("method", ["wire", "venmo"])
def test_a_payment_method_outside_the_documented_set_is_refused(method):
    payment = make_payment(make_invoice(), method=method)
    (message,) = errors_of(payment)["payment_method"]
    assert f"'{method}' is not a Thredfi payment_method" in message and "bank_transfer" in message


def test_a_refund_method_outside_the_documented_set_is_refused_in_any_case():
    invoice = make_invoice()
    assert "method" in errors_of(make_refund(invoice, method="venmo"))
    make_refund(invoice, method="Bank_Transfer").validate_for_thredfi()


def test_bill_payment_methods_are_not_checked_because_the_docs_truncate_their_list():
    bill = make_bill()
    make_bill_payment(bill, Decimal("10.00"), method="wire").validate_for_thredfi()


def test_a_refused_payment_costs_no_request(thredfi_fake, queue, committed):
    with committed():
        invoice = make_invoice(lines=[(Decimal("1"), Decimal("100.00"))])
        make_payment(invoice, Decimal("100.00"))
    queue.drain()
    with committed():
        over = make_payment(invoice, Decimal("0.01"))
    queue.drain()

    state = state_for(over)
    assert state.status == SyncStatus.NEEDS_ATTENTION
    assert "outstanding, 0.00" in state.last_error_fields["allocations[0].amount_cents"][0]
    payments = "POST /v1/platform/businesses/{business_id}/invoices/payments/"
    assert thredfi_fake.stats.requests[payments] == 1  # the first payment only
