"""End to end on real services: saves commit to PostgreSQL, tasks travel through Redis, a real
``celery worker`` process pushes them to the fake Thredfi over real HTTP."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest

from tests.testapp.factories import make_invoice, make_payment
from tests.testapp.models import Account, Invoice
from thredfi_django.models import SyncState, SyncStatus

pytestmark = pytest.mark.services


def wait_for(predicate, timeout=60.0, interval=0.2):
    """Poll ``predicate`` until it returns something truthy or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(interval)


def all_synced() -> bool:
    states = list(SyncState.objects.values_list("status", flat=True))
    return bool(states) and all(status == SyncStatus.SYNCED for status in states)


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_pushes_saved_objects_to_thredfi(celery_worker_process, live_thredfi):
    invoice = make_invoice(lines=[(Decimal("3"), Decimal("20.00"))])
    payment = make_payment(invoice)

    assert wait_for(all_synced), list(
        SyncState.objects.values_list("resource", "status", "last_error_message")
    )
    account = Account.objects.get()
    invoice = Invoice.objects.get()
    business_id = str(account.thredfi_id)
    assert [b["id"] for b in live_thredfi.records("businesses")] == [business_id]
    (remote_invoice,) = live_thredfi.records("invoices", business_id)
    assert remote_invoice["id"] == str(invoice.thredfi_id)
    assert remote_invoice["total_amount"] == 6000
    assert remote_invoice["status"] == "paid"
    assert live_thredfi.count_by_external_id("payments", business_id) == {
        payment.get_thredfi_external_id(): 1
    }
    assert len(live_thredfi.records("customers", business_id)) == 1

    invoice.memo = "Updated after the first push"
    invoice.save()
    assert wait_for(
        lambda: (
            live_thredfi.records("invoices", business_id)[0]["memo"]
            == "Updated after the first push"
        )
    )
    assert wait_for(all_synced)
