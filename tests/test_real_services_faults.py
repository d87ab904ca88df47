"""A worker that dies in the middle of a push, on real services.

The worst moment for a crash: Thredfi has received the create and applies it, but the worker is
gone before the answer arrives, so the database never learns the remote id. The row's lease
runs out, the sweep hands it to a worker again, the retry looks the record up by external_id
and adopts it, and the object ends up synced to exactly one record.
"""

from __future__ import annotations

import datetime as dt
import time

import pytest
from django.utils import timezone

from tests.testapp.factories import make_invoice
from thredfi_django.engine import absorb
from thredfi_django.models import SyncState, SyncStatus
from thredfi_django.tasks import sweep_pending

pytestmark = pytest.mark.services

INVOICE_CREATE = "POST /v1/platform/businesses/{business_id}/invoices/"
INVOICE_LIST = "GET /v1/platform/businesses/{business_id}/invoices/"


def wait_for(predicate, timeout=60.0, interval=0.05):
    """Poll ``predicate`` until it returns something truthy or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(interval)


@pytest.mark.parametrize("duplicate_answer", ["200", "409"])
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_while_thredfi_applies_a_create_leaves_exactly_one_record(
    celery_worker_process, live_thredfi, duplicate_answer
):
    # The docs disagree on what a repeated external_id gets: the record (200) or a conflict.
    live_thredfi.duplicate_mode = duplicate_answer
    # Invoice creates take 5 s to answer: long enough to kill the worker while it waits.
    live_thredfi.set_faults(slow_rate=1.0, slow_seconds=5.0, paths=["/invoices/"])
    invoice = make_invoice()
    state = absorb.state_for(invoice)

    assert wait_for(lambda: live_thredfi.stats["requests"].get(INVOICE_CREATE)), (
        "the worker never sent the invoice"
    )
    celery_worker_process.kill()

    # Thredfi applies the create anyway; nobody is left to read the answer.
    invoice.account.refresh_from_db()
    business_id = str(invoice.account.thredfi_id)
    assert wait_for(lambda: live_thredfi.records("invoices", business_id))
    state.refresh_from_db()
    invoice.refresh_from_db()
    assert state.status == SyncStatus.IN_PROGRESS
    assert state.lease_until > timezone.now(), "the dead worker's lease still holds the row"
    assert invoice.thredfi_id is None

    live_thredfi.set_faults()
    celery_worker_process.restart()
    # Time passes: the lease runs out (LEASE_SECONDS), then beat runs the sweep.
    SyncState.objects.filter(pk=state.pk).update(
        lease_until=timezone.now() - dt.timedelta(seconds=1)
    )
    sweep_pending.delay()

    assert wait_for(
        lambda: SyncState.objects.filter(pk=state.pk, status=SyncStatus.SYNCED).exists()
    ), list(SyncState.objects.values_list("resource", "status", "last_error_message"))
    invoice.refresh_from_db()
    (remote,) = live_thredfi.records("invoices", business_id)
    assert str(invoice.thredfi_id) == remote["id"]
    assert live_thredfi.count_by_external_id("invoices", business_id) == {
        invoice.get_thredfi_external_id(): 1
    }
    # The retry knows its row was taken from a dead worker: it looks the record up first.
    assert live_thredfi.stats["requests"][INVOICE_CREATE] == 1, "one create, its answer lost"
    assert live_thredfi.stats["requests"][INVOICE_LIST] == 1, "the look-up by external_id"
    # The restarted worker is a new process: it found the tokens in the shared (Redis) cache.
    assert live_thredfi.stats["tokens_issued"] == {"partner": 1, "business": 1}
