"""The same stories on every SQL path: what the database offers (PostgreSQL in pass 2: arrays,
RETURNING, SKIP LOCKED; SQLite in pass 1: RETURNING), RETURNING without arrays, and plain SQL
(any database Django supports). ``sql.limited_to`` turns features off, never on."""

from __future__ import annotations

import pytest

from tests.testapp.factories import make_customer, make_invoice
from thredfi_django import sql
from thredfi_django.engine import absorb, leases
from thredfi_django.engine.drain import drain
from thredfi_django.models import SyncAttempt, SyncState, SyncStatus

pytestmark = pytest.mark.django_db

PATHS = {
    "native": sql.Features(returning=True, skip_locked=True, arrays=True),
    "returning-only": sql.Features(returning=True, skip_locked=False, arrays=False),
    "plain": sql.PLAIN,
}


@pytest.fixture(params=list(PATHS))
def path(request):
    with sql.limited_to(PATHS[request.param]):
        yield request.param


def test_each_path_pushes_a_platform_and_records_every_ending(path, thredfi_fake, queue):
    customer = make_customer()
    invoices = [make_invoice(customer) for _ in range(3)]
    thredfi_fake.fail_next(1, status=503, path_contains="/invoices/")
    thredfi_fake.fail_next(1, status=422, path_contains="/invoices/")

    assert drain(worker="w") == 2 + 3

    endings = sorted(absorb.state_for(i).status for i in invoices)
    assert endings == sorted([SyncStatus.SYNCED, SyncStatus.PENDING, SyncStatus.NEEDS_ATTENTION])
    synced = SyncState.objects.get(resource="invoice", status=SyncStatus.SYNCED)
    invoice = next(i for i in invoices if str(i.pk) == synced.object_id)
    invoice.refresh_from_db()
    assert invoice.thredfi_id == synced.remote_id, "the host row learnt its remote id"
    retry = SyncState.objects.get(resource="invoice", status=SyncStatus.PENDING)
    assert (retry.attempts, retry.last_error_status) == (1, 503)
    assert retry.next_attempt_at is not None and retry.lease_owner == ""
    attention = SyncState.objects.get(resource="invoice", status=SyncStatus.NEEDS_ATTENTION)
    assert attention.last_error_status == 422
    assert SyncAttempt.objects.filter(state__resource="invoice").count() == 3


def test_each_path_claims_each_due_row_once(path, queue):
    for _ in range(3):
        make_customer()
    absorb.absorb_all()
    first = leases.claim("a", 4)
    second = leases.claim("b", 4)
    ids = [state.pk for _token, state in first + second]
    assert len(ids) == len(set(ids)) == 6
    assert all(state.attempts_recorded == 0 for _token, state in first + second)
    assert leases.claim("c", 4) == []


def test_each_path_keeps_a_newer_save_pending(path, thredfi_fake, queue, monkeypatch):
    from thredfi_django.engine import outcomes

    invoice = make_invoice()
    real_record = outcomes.record

    def save_then_record(pushes, worker):
        invoice.memo = "saved while the request was in flight"
        invoice.save()
        absorb.absorb()
        return real_record(pushes, worker)

    drain(worker="w")  # business and customer first
    invoice.memo = "first"
    invoice.save()
    monkeypatch.setattr(outcomes, "record", save_then_record)
    drain(worker="w", time_limit=0)
    state = absorb.state_for(invoice)
    assert state.status == SyncStatus.PENDING and state.synced_version < state.version
