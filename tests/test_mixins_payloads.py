"""What the mixins send: external ids, default payloads, hooks, and local validation."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from django.conf import settings
from django.test import override_settings

from tests.testapp.factories import (
    make_account,
    make_bill,
    make_customer,
    make_invoice,
    make_payment,
    make_refund,
    make_refund_payment,
)
from tests.testapp.models import Customer, Invoice, InvoiceLine
from thredfi_django.engine.plan import preview
from thredfi_django.exceptions import ThredfiLocalValidationError

pytestmark = pytest.mark.django_db


def errors_of(obj) -> dict:
    with pytest.raises(ThredfiLocalValidationError) as info:
        obj.validate_for_thredfi()
    return info.value.field_errors


def test_external_ids_are_namespaced_by_prefix_environment_model_and_pk():
    customer = make_customer()
    assert customer.get_thredfi_external_id() == f"dj:tests:testapp.customer:{customer.pk}"
    settings = {"PARTNER_UUID": "0b7e4d3a-5f7c-4c1e-9a51-2f7d3c1b9e10", "API_KEY": "k"}
    with override_settings(
        THREDFI={**settings, "EXTERNAL_ID_PREFIX": "acme", "EXTERNAL_ID_NAMESPACE": "staging"}
    ):
        assert customer.get_thredfi_external_id() == f"acme:staging:testapp.customer:{customer.pk}"


def test_an_invoice_payload_maps_host_fields_to_thredfi_fields_in_cents():
    invoice = make_invoice(
        lines=[(Decimal("2"), Decimal("50.00")), (Decimal("1.5"), Decimal("9.99"))], memo="Thanks"
    )
    invoice.customer.thredfi_id = uuid.UUID("11111111-1111-1111-1111-111111111111")
    payload = invoice.get_thredfi_payload()
    assert payload == {
        "external_id": f"dj:tests:testapp.invoice:{invoice.pk}",
        "invoice_number": invoice.number,
        "sent_at": "2026-11-24T00:00:00Z",
        "due_at": "2026-12-24T00:00:00Z",
        "memo": "Thanks",
        "currency": "GBP",
        "customer_id": "11111111-1111-1111-1111-111111111111",
        "line_items": [
            {
                "external_id": f"dj:tests:testapp.invoice:{invoice.pk}:line:{line.pk}",
                "description": line.description,
                "quantity": quantity,
                "unit_price_cents": cents,
                "account_code": "4000",
            }
            for line, quantity, cents in zip(
                invoice.lines.all(), [2, "1.5"], [5000, 999], strict=True
            )
        ],
    }


def test_field_map_and_per_field_hooks_override_the_defaults(monkeypatch):
    customer = make_customer(name="Ada Lovelace", phone="+441234")
    payload = customer.get_thredfi_payload()
    assert payload["individual_name"] == "Ada Lovelace"  # thredfi_field_map
    assert payload["mobile_phone"] == "+441234"
    monkeypatch.setattr(
        Customer, "get_thredfi_notes", lambda self: f"VIP since {self.pk}", raising=False
    )
    assert customer.get_thredfi_payload()["notes"] == f"VIP since {customer.pk}"


def test_a_payment_carries_its_customer_and_allocations_and_depends_on_them():
    invoice = make_invoice()
    payment = make_payment(invoice)
    assert payment.get_thredfi_dependencies() == [invoice.customer, invoice]
    payload = payment.get_thredfi_payload()
    assert payload["total_amount_cents"] == 10000
    assert payload["payment_date"] == "2026-11-24"
    assert payload["payment_method"] == "bank_transfer"
    assert payload["allocations"] == [{"invoice_id": None, "amount_cents": 10000}]


def test_a_refund_payment_finds_its_business_through_its_refund():
    invoice = make_invoice()
    refund_payment = make_refund_payment(make_refund(invoice), Decimal("10.00"))
    assert refund_payment.get_thredfi_business() == invoice.account
    assert refund_payment.get_thredfi_payload()["completed_at"] == "2026-11-26T12:00:00Z"


def test_a_business_update_leaves_out_what_patch_refuses():
    account = make_account()
    assert {"external_id", "country", "base_currency"} <= set(account.get_thredfi_payload())
    assert not {"external_id", "country", "base_currency"} & set(
        account.get_thredfi_update_payload()
    )


def test_a_good_invoice_passes_local_validation():
    make_invoice().validate_for_thredfi()
    make_bill().validate_for_thredfi()


def test_an_invoice_without_customer_or_dates_is_refused_with_named_fields():
    account = make_account()
    invoice = Invoice.objects.create(account=account, number="X-1")
    InvoiceLine.objects.create(invoice=invoice, description="x", unit_price=Decimal("1"))
    errors = errors_of(invoice)
    assert set(errors) == {"customer", "sent_at", "due_at"}
    assert "needs a customer" in errors["customer"][0]


def test_bad_lines_are_refused_line_by_line():
    invoice = make_invoice(lines=[(Decimal("0"), Decimal("10")), (Decimal("1"), Decimal("1.005"))])
    errors = errors_of(invoice)
    assert errors["line_items[0].quantity"] == ["Line 1: quantity must be greater than 0."]
    assert "more than 2 decimal" in errors["line_items[1].unit_price"][0].replace("two", "2")
    negative = make_invoice(lines=[(Decimal("-1"), Decimal("10"))])
    assert "line_items[0].quantity" in errors_of(negative)


def test_an_invoice_in_another_currency_than_the_business_is_refused():
    invoice = make_invoice(currency="EUR")
    assert "base currency GBP" in errors_of(invoice)["currency"][0]
    invoice.currency = "XYZ"
    assert "Unknown currency" in errors_of(invoice)["currency"][0]


def test_strings_longer_than_thredfi_accepts_are_refused():
    account = make_account(vat_number="GB" + "1" * 30)
    assert errors_of(account) == {"vat_number": ["At most 20 characters (this has 32)."]}


def test_a_payment_of_zero_is_refused():
    invoice = make_invoice()
    payment = make_payment(invoice, amount=Decimal("0"))
    errors = errors_of(payment)
    assert "total_amount_cents" in errors and "allocations[0].amount_cents" in errors


def test_preview_shows_the_request_without_sending_it(thredfi_fake):
    business = thredfi_fake.add_business(settings.THREDFI["PARTNER_UUID"])
    invoice = make_invoice()
    invoice.account.thredfi_id = uuid.UUID(business["id"])
    shown = preview(invoice)
    assert shown["method"] == "POST"
    assert shown["path"] == f"/v1/platform/businesses/{business['id']}/invoices/"
    assert shown["payload"]["invoice_number"] == invoice.number
    assert shown["errors"] == {}
    invoice.thredfi_id = uuid.uuid4()
    assert preview(invoice)["method"] == "PUT"


def test_preview_reports_what_would_stop_the_push():
    invoice = make_invoice(due_on=None)
    assert "due_at" in preview(invoice)["errors"]


def test_a_datetime_is_sent_in_utc():
    refund = make_refund(
        make_invoice(),
        refunded_at=dt.datetime(2026, 1, 1, 12, tzinfo=dt.timezone(dt.timedelta(hours=2))),
    )
    assert refund.get_thredfi_payload()["completed_at"] == "2026-01-01T10:00:00Z"


def test_enums_and_currencies_are_sent_in_the_case_thredfi_documents():
    invoice = make_invoice()
    refund = make_refund(invoice, method="bank_transfer")
    assert refund.get_thredfi_payload()["method"] == "BANK_TRANSFER"
    payment = make_payment(invoice, method="Bank_Transfer", currency="gbp")
    payload = payment.get_thredfi_payload()
    assert (payload["payment_method"], payload["currency"]) == ("bank_transfer", "GBP")
