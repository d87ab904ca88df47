"""A bad day at Thredfi: random 5xx, 429 and dropped connections on every endpoint. Every object
still ends up synced, with exactly one remote record per external_id and no duplicate payment."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from tests.testapp.factories import make_customer, make_invoice, make_payment
from thredfi_django.engine.sweep import sweep
from thredfi_django.models import SyncState, SyncStatus

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("seed", [1, 7, 42])
def test_everything_syncs_exactly_once_under_random_faults(thredfi_fake, queue, committed, seed):
    with committed():
        customers = [make_customer() for _ in range(3)]
        payments = [
            make_payment(make_invoice(customers[n % 3], number=f"S{seed}-{n}")) for n in range(6)
        ]
    thredfi_fake.set_faults(
        server_error_rate=0.15, rate_limit_rate=0.1, drop_after_apply_rate=0.15, seed=seed
    )

    clock = timezone.now()
    for _round in range(40):
        queue.drain()
        if not SyncState.objects.exclude(status=SyncStatus.SYNCED).exists():
            break
        # Time passes: backoffs and Retry-Afters run out, and the sweep finds what is due.
        clock += dt.timedelta(hours=2)
        SyncState.objects.filter(next_attempt_at__isnull=False).update(next_attempt_at=clock)
        with committed():
            sweep(now=clock + dt.timedelta(minutes=5))

    leftovers = list(
        SyncState.objects.exclude(status=SyncStatus.SYNCED).values_list(
            "resource", "status", "last_error_message"
        )
    )
    assert leftovers == []
    faults = thredfi_fake.stats.faults
    assert faults.get("drop", 0) >= 2 and sum(faults.values()) >= 5, faults  # they did happen
    for resource, expected in (("customers", 3), ("invoices", 6), ("payments", 6)):
        counts = thredfi_fake.count_by_external_id(resource)
        assert len(counts) == expected and set(counts.values()) == {1}, (resource, counts)
    for payment in payments:
        payment.refresh_from_db()
        assert payment.thredfi_id is not None
