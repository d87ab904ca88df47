"""Only one worker pushes a row at a time; a dead worker's lease runs out."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from tests.testapp.factories import make_account
from thredfi_django import leases, outbox
from thredfi_django.models import SyncState, SyncStatus
from thredfi_django.sync import sweep

pytestmark = pytest.mark.django_db


@pytest.fixture
def state(queue):
    return outbox.state_for(make_account())


def test_of_two_claims_only_one_wins(state):
    first = leases.claim(state.pk, "worker-a")
    second = leases.claim(state.pk, "worker-b")
    assert first and first.startswith("worker-a/")
    assert second is None
    state.refresh_from_db()
    assert (state.status, state.lease_owner) == (SyncStatus.IN_PROGRESS, first)


def test_an_expired_lease_can_be_taken_over(state, settings):
    now = timezone.now()
    assert leases.claim(state.pk, "dies", now)
    later = now + dt.timedelta(seconds=121)  # LEASE_SECONDS is 120
    assert leases.claim(state.pk, "survivor", now + dt.timedelta(seconds=119)) is None
    assert leases.claim(state.pk, "survivor", later).startswith("survivor/")


def test_the_old_owner_cannot_release_a_lease_it_lost(state):
    now = timezone.now()
    old = leases.claim(state.pk, "slow", now)
    new = leases.claim(state.pk, "fast", now + dt.timedelta(seconds=500))
    assert leases.release(state.pk, old, status=SyncStatus.SYNCED) is False
    assert leases.release(state.pk, new, status=SyncStatus.SYNCED) is True


def test_a_row_waiting_out_a_backoff_is_not_claimed_early(state):
    now = timezone.now()
    SyncState.objects.filter(pk=state.pk).update(next_attempt_at=now + dt.timedelta(seconds=30))
    assert leases.claim(state.pk, "eager", now) is None
    assert leases.claim(state.pk, "patient", now + dt.timedelta(seconds=31))


def test_synced_failed_and_attention_rows_are_not_claimable(state):
    for status in (SyncStatus.SYNCED, SyncStatus.FAILED, SyncStatus.NEEDS_ATTENTION):
        SyncState.objects.filter(pk=state.pk).update(status=status)
        assert leases.claim(state.pk, "w") is None


def test_release_if_version_refuses_when_a_save_arrived_during_the_push(state):
    token = leases.claim(state.pk, "w")
    SyncState.objects.filter(pk=state.pk).update(version=2)
    assert not leases.release_if_version(state.pk, token, 1, status=SyncStatus.SYNCED)
    assert leases.release_if_version(state.pk, token, 2, status=SyncStatus.SYNCED)


def test_the_sweep_re_enqueues_a_row_whose_worker_died(state, queue, committed):
    now = timezone.now()
    assert leases.claim(state.pk, "dies", now)
    queue.clear()
    with committed():
        assert sweep(now=now + dt.timedelta(seconds=60)) == 0, "the lease is still valid"
        assert sweep(now=now + dt.timedelta(seconds=200)) == 1
    state.refresh_from_db()
    assert (state.status, state.lease_owner) == (SyncStatus.PENDING, "")
    assert queue.ids == [state.pk]


def test_a_lease_can_be_renewed_only_by_its_owner(state):
    now = timezone.now()
    token = leases.claim(state.pk, "w", now)
    later = now + dt.timedelta(seconds=100)
    assert leases.renew(state.pk, "someone-else", later) is False
    assert leases.renew(state.pk, token, later) is True
    state.refresh_from_db()
    assert state.lease_until == later + dt.timedelta(seconds=120)


def test_claim_and_load_returns_the_claimed_row_as_the_orm_would_load_it(state):
    """The claim and the row come back in one UPDATE … RETURNING; every field must read the
    same as a plain ORM load (datetimes, UUIDs and JSON come back raw from the database)."""
    when = timezone.now() - dt.timedelta(hours=1)
    SyncState.objects.filter(pk=state.pk).update(
        remote_id="5b1f1c1e-9a0e-4c36-8d7c-3f4f3b0e2a11",
        last_error_fields={"currency": ["Unknown currency."]},
        last_error_at=when,
        last_synced_at=when,
        next_attempt_at=when,
        attempts=2,
    )
    state.attempt_history.create(started_at=when, outcome="transient_error")
    state.attempt_history.create(started_at=when, outcome="transient_error")

    token, claimed = leases.claim_and_load(state.pk, "worker-a")
    loaded = SyncState.objects.get(pk=state.pk)
    fields = [f.attname for f in SyncState._meta.concrete_fields]
    assert {f: getattr(claimed, f) for f in fields} == {f: getattr(loaded, f) for f in fields}
    assert (claimed.status, claimed.lease_owner) == (SyncStatus.IN_PROGRESS, token)
    assert claimed.attempts_recorded == 2
    assert claimed.business_id is None and claimed.business is None
    assert leases.claim_and_load(state.pk, "worker-b") is None, "held by worker-a"


def test_a_claimed_rows_business_is_loaded_when_asked_for(queue):
    from tests.testapp.factories import make_customer

    customer = make_customer()
    state = outbox.state_for(customer)
    _token, claimed = leases.claim_and_load(state.pk, "worker-a")
    assert claimed.business_id == outbox.state_for(customer.account).pk
    assert claimed.business == outbox.state_for(customer.account)
