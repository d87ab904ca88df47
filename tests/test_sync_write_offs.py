"""Write-offs: bad debt given up on part of an invoice, sent under that invoice."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.conf import settings
from django.test import override_settings

from tests.testapp.factories import make_invoice, make_payment, make_write_off
from thredfi_django.engine.absorb import state_for
from thredfi_django.engine.plan import preview
from thredfi_django.exceptions import ThredfiLocalValidationError
from thredfi_django.models import SyncStatus

pytestmark = pytest.mark.django_db

BAD_DEBT = {**settings.THREDFI, "ACCOUNT_CODES": {"invoice": "4000", "write_off": "6000"}}


def test_a_write_off_is_sent_under_its_invoice_and_lowers_what_it_owes(
    thredfi_fake, queue, committed
):
    with committed():
        invoice = make_invoice(lines=[(1, Decimal("100.00"))])
        make_payment(invoice, Decimal("70.00"))
        write_off = make_write_off(invoice, Decimal("30.00"), reason="Customer insolvent")
    assert {r.outcome for r in queue.drain()} == {"synced"}

    invoice.refresh_from_db()
    (remote,) = thredfi_fake.records("write_offs")
    assert (remote["invoice_id"], remote["amount_cents"]) == (str(invoice.thredfi_id), 3000)
    assert (remote["write_off_at"], remote["memo"]) == (
        "2026-12-31T00:00:00Z",
        "Customer insolvent",
    )
    assert remote["destination_account"] is None  # no code named: not sent
    assert thredfi_fake.records("invoices")[0]["outstanding_balance"] == 0
    assert state_for(write_off).status == SyncStatus.SYNCED


def test_the_destination_account_comes_from_the_chart(thredfi_fake, queue, committed):
    with override_settings(THREDFI=BAD_DEBT), committed():
        write_off = make_write_off(make_invoice(), Decimal("10.00"))
    with override_settings(THREDFI=BAD_DEBT):
        queue.drain()
        write_off.refresh_from_db()
        shown = preview(make_write_off(write_off.invoice, Decimal("5.00")))  # a second one

    (remote,) = thredfi_fake.records("write_offs")
    business_id = str(write_off.account.thredfi_id)
    (expenses,) = [a for a in thredfi_fake.records("accounts", business_id) if a["code"] == "6000"]
    assert remote["destination_account"] == {"type": "AccountId", "id": expenses["id"]}
    assert shown["path"].endswith(f"/invoices/{write_off.invoice.thredfi_id}/write-offs/")
    assert "invoice_id" in shown["payload"]  # the client moves it into the path


def test_a_write_off_above_what_the_invoice_owes_is_refused_locally():
    invoice = make_invoice(lines=[(1, Decimal("100.00"))])
    make_payment(invoice, Decimal("80.00"))
    write_off = make_write_off(invoice, Decimal("25.00"))
    with pytest.raises(ThredfiLocalValidationError) as caught:
        write_off.validate_for_thredfi()
    (message,) = caught.value.field_errors["amount_cents"]
    assert "Writing off 25.00 exceeds" in message and "outstanding, 20.00" in message


def test_payments_count_write_offs_too():
    invoice = make_invoice(lines=[(1, Decimal("100.00"))])
    make_write_off(invoice, Decimal("60.00"))
    payment = make_payment(invoice, Decimal("50.00"))
    with pytest.raises(ThredfiLocalValidationError) as caught:
        payment.validate_for_thredfi()
    assert "outstanding, 40.00" in caught.value.field_errors["allocations[0].amount_cents"][0]


def test_an_unknown_destination_account_fails_locally(thredfi_fake, queue, committed):
    with committed():
        invoice = make_invoice()
    queue.drain()
    invoice.account.refresh_from_db()
    write_off = make_write_off(invoice, Decimal("10.00"), account_code="6999")

    with pytest.raises(ThredfiLocalValidationError) as caught:
        write_off.validate_for_thredfi()
    (message,) = caught.value.field_errors["account_code"]
    assert message.startswith("Account code '6999' is not in the chart of accounts of business")
    assert str(invoice.account.thredfi_id) in message
