"""Payouts: a processor settlement pushed after the payments it lists, and upserted on change."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.testapp.factories import make_invoice, make_payment, make_payout
from tests.testapp.models import Payout
from thredfi_django.engine.absorb import state_for
from thredfi_django.engine.drain import drain
from thredfi_django.exceptions import ThredfiLocalValidationError
from thredfi_django.models import SyncStatus
from thredfi_django.recording import wake

pytestmark = pytest.mark.django_db

PAYOUTS = "POST /v1/platform/businesses/{business_id}/payouts/"


@pytest.fixture
def paid(thredfi_fake, queue, committed):
    """Two paid invoices of one customer, not pushed yet."""
    first = make_invoice(lines=[(1, Decimal("60.00"))])
    second = make_invoice(first.customer, lines=[(1, Decimal("40.00"))])
    return [make_payment(first), make_payment(second)]


def test_a_payout_is_pushed_after_its_payments_and_lists_their_ids(
    paid, thredfi_fake, queue, committed
):
    with committed():
        payout = make_payout(paid, fee=Decimal("2.90"), amount=Decimal("97.10"))
    results = queue.drain()
    assert {r.outcome for r in results} == {"synced"}

    for payment in paid:
        payment.refresh_from_db()
    (remote,) = thredfi_fake.records("payouts")
    assert sorted(remote["payment_ids"]) == sorted(str(p.thredfi_id) for p in paid)
    assert (remote["paid_out_amount_cents"], remote["fee_cents"]) == (9710, 290)
    assert (remote["gross_payments_amount_cents"], remote["amount_variance_cents"]) == (10000, 0)
    assert remote["completed_at"] == "2026-11-27T09:00:00Z"
    assert state_for(payout).status == SyncStatus.SYNCED


def test_a_changed_payout_is_posted_again_and_updated_in_place(
    paid, thredfi_fake, queue, committed
):
    with committed():
        payout = make_payout(paid)
    queue.drain()
    payout.fee = Decimal("3.00")
    payout.amount = Decimal("97.00")
    with committed():
        payout.save()
    queue.drain()

    (remote,) = thredfi_fake.records("payouts")
    assert (remote["fee_cents"], remote["paid_out_amount_cents"]) == (300, 9700)
    assert thredfi_fake.stats.requests[PAYOUTS] == 2
    assert state_for(payout).status == SyncStatus.SYNCED


def test_a_payout_thredfi_has_reconciled_cannot_change(paid, thredfi_fake, queue, committed):
    with committed():
        payout = make_payout(paid)
    queue.drain()
    (remote,) = thredfi_fake.records("payouts")
    thredfi_fake.store.tables["payouts"][remote["id"]]["reconciliation_status"] = "reconciled"
    payout.fee = Decimal("1.00")
    with committed():
        payout.save()
    queue.drain()

    state = state_for(payout)
    assert (state.status, state.last_error_status) == (SyncStatus.NEEDS_ATTENTION, 409)


def test_a_payout_is_checked_before_sending(paid):
    payout = make_payout(paid, processor="", fee=Decimal("-1.00"))
    with pytest.raises(ThredfiLocalValidationError) as caught:
        payout.validate_for_thredfi()
    assert set(caught.value.field_errors) >= {"processor", "fee_cents"}
    assert Payout.objects.get().get_thredfi_payload()["payment_ids"] == [None, None]


def test_one_drain_pushes_a_payout_after_everything_it_lists(paid, thredfi_fake, monkeypatch):
    monkeypatch.setattr(wake.current_app, "send_task", lambda *args, **kwargs: None)
    payout = make_payout(paid)

    assert drain(worker="w") == 1 + 1 + 2 + 2 + 1  # business, customer, invoices, payments, payout
    (remote,) = thredfi_fake.records("payouts")
    assert len(remote["payment_ids"]) == 2 and None not in remote["payment_ids"]
    assert state_for(payout).status == SyncStatus.SYNCED
