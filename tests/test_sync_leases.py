"""Only one worker pushes a row at a time; a dead worker's lease runs out."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.utils import timezone

from tests.testapp.factories import make_account
from thredfi_django.engine import absorb, leases, outcomes, results
from thredfi_django.engine.plan import RemoteCall
from thredfi_django.engine.send import Answer
from thredfi_django.engine.sweep import sweep
from thredfi_django.models import SyncState, SyncStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def state(queue):
    return absorb.state_for(make_account())


def claim(state_id, worker, now=None):
    """The owner token of a claim of one row, or None."""
    claimed = leases.claim(worker, 1, state_id=state_id, now=now)
    return claimed[0][0] if claimed else None


def claim_and_load(state_id, worker):
    claimed = leases.claim(worker, 1, state_id=state_id)
    return claimed[0] if claimed else None


def release(state_id, token, version=1):
    """Record a successful push under ``token``; returns the row's status, None if not ours."""
    state = SyncState.objects.get(pk=state_id)
    state.version = version
    pushed = results.Push(
        token,
        state,
        call=RemoteCall("business", "create"),
        answer=Answer({"id": str(uuid.uuid4())}, created=True, requests=1),
    )
    (result,) = outcomes.record([pushed], "w")
    return result.status


def test_of_two_claims_only_one_wins(state):
    first = claim(state.pk, "worker-a")
    second = claim(state.pk, "worker-b")
    assert first and first.startswith("worker-a/")
    assert second is None
    state.refresh_from_db()
    assert (state.status, state.lease_owner) == (SyncStatus.IN_PROGRESS, first)


def test_an_expired_lease_can_be_taken_over(state, settings):
    now = timezone.now()
    assert claim(state.pk, "dies", now)
    later = now + dt.timedelta(seconds=31)  # LEASE_SECONDS is 30
    assert claim(state.pk, "survivor", now + dt.timedelta(seconds=29)) is None
    assert claim(state.pk, "survivor", later).startswith("survivor/")


def test_the_old_owner_cannot_release_a_lease_it_lost(state):
    now = timezone.now()
    old = claim(state.pk, "slow", now)
    new = claim(state.pk, "fast", now + dt.timedelta(seconds=500))
    assert release(state.pk, old) is None
    assert release(state.pk, new) == SyncStatus.SYNCED


def test_a_row_waiting_out_a_backoff_is_not_claimed_early(state):
    now = timezone.now()
    SyncState.objects.filter(pk=state.pk).update(next_attempt_at=now + dt.timedelta(seconds=30))
    assert claim(state.pk, "eager", now) is None
    assert claim(state.pk, "patient", now + dt.timedelta(seconds=31))


def test_synced_failed_and_attention_rows_are_not_claimable(state):
    for status in (SyncStatus.SYNCED, SyncStatus.FAILED, SyncStatus.NEEDS_ATTENTION):
        SyncState.objects.filter(pk=state.pk).update(status=status)
        assert claim(state.pk, "w") is None


def test_a_push_of_an_older_version_ends_pending_when_a_save_arrived_during_it(state):
    token = claim(state.pk, "w")
    SyncState.objects.filter(pk=state.pk).update(version=2)
    assert release(state.pk, token, version=1) == SyncStatus.PENDING
    token = claim(state.pk, "w")
    assert release(state.pk, token, version=2) == SyncStatus.SYNCED


def test_the_sweep_re_enqueues_a_row_whose_worker_died(state, queue, committed):
    now = timezone.now()
    assert claim(state.pk, "dies", now)
    queue.clear()
    with committed():
        assert sweep(now=now + dt.timedelta(seconds=20)) == 0, "the lease is still valid"
        assert sweep(now=now + dt.timedelta(seconds=200)) == 1
    state.refresh_from_db()
    assert (state.status, state.lease_owner) == (SyncStatus.PENDING, "")
    assert state.last_error_kind == leases.LEASE_EXPIRED, "its next create looks it up first"
    assert queue.ids == [state.pk]


def test_a_keeper_renews_the_leases_it_holds_and_stops_sending_under_a_lost_one(state):
    token = claim(state.pk, "w")
    keeper = leases.LeaseKeeper()
    keeper.hold(token, [state.pk])
    assert keeper.allows_sending(token)
    before = SyncState.objects.get(pk=state.pk).lease_until
    keeper.length = 200.0  # every renewal is now due
    keeper.renew_if_due()
    assert SyncState.objects.get(pk=state.pk).lease_until > before
    assert keeper.allows_sending(token)

    SyncState.objects.filter(pk=state.pk).update(lease_owner="another-worker/1")
    keeper.length = 2000.0
    keeper.renew_if_due()
    assert SyncState.objects.get(pk=state.pk).lease_owner == "another-worker/1"
    assert not keeper.allows_sending(token), "nothing more is sent under a lease we lost"


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

    token, claimed = claim_and_load(state.pk, "worker-a")
    loaded = SyncState.objects.get(pk=state.pk)
    fields = [f.attname for f in SyncState._meta.concrete_fields]
    assert {f: getattr(claimed, f) for f in fields} == {f: getattr(loaded, f) for f in fields}
    assert (claimed.status, claimed.lease_owner) == (SyncStatus.IN_PROGRESS, token)
    assert claimed.attempts_recorded == 2
    assert claimed.business_id is None and claimed.business is None
    assert claim_and_load(state.pk, "worker-b") is None, "held by worker-a"


def test_a_claimed_rows_business_is_loaded_when_asked_for(queue):
    from tests.testapp.factories import make_customer

    customer = make_customer()
    state = absorb.state_for(customer)
    _token, claimed = claim_and_load(state.pk, "worker-a")
    assert claimed.business_id == absorb.state_for(customer.account).pk
    assert claimed.business == absorb.state_for(customer.account)


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_a_slower_api_than_the_lease_never_has_one_row_pushed_twice_at_once(
    thredfi_fake, monkeypatch, settings
):
    """Every answer takes longer than a lease lasts, and a second worker keeps trying to claim:
    the first worker's leases are renewed while its requests are in flight, so the second one
    never gets a row the first is still pushing."""
    import threading
    import time

    from django.db import connection

    from tests.testapp.factories import make_customer
    from thredfi_django.engine import send
    from thredfi_django.engine.drain import drain

    settings.THREDFI = {**settings.THREDFI, "LEASE_SECONDS": 1.0, "DRAIN_HTTP_CONCURRENCY": 1}
    customers = [make_customer(make_account()) for _ in range(2)]
    absorb.absorb_all()
    thredfi_fake.set_faults(slow_rate=1.0, slow_seconds=1.5)

    in_flight: dict[str, int] = {}
    overlaps: list[str] = []
    lock = threading.Lock()
    real_execute = send.execute

    def watched(client, call):
        with lock:
            in_flight[call.external_id] = in_flight.get(call.external_id, 0) + 1
            if in_flight[call.external_id] > 1:
                overlaps.append(call.external_id)
        try:
            return real_execute(client, call)
        finally:
            with lock:
                in_flight[call.external_id] -= 1

    monkeypatch.setattr(send, "execute", watched)
    done = threading.Event()

    def worker(name: str, keep_trying: bool) -> None:
        try:
            while True:
                drain(worker=name, time_limit=0 if keep_trying else 60)
                if not keep_trying or done.is_set():
                    return
                time.sleep(0.1)
        finally:
            if keep_trying:
                connection.close()  # this thread's own connection

    second = threading.Thread(target=worker, args=("B", True))
    second.start()
    try:
        worker("A", False)
        for _ in range(20):  # rows B took (or that wait out a backoff) are pushed too
            if not SyncState.objects.exclude(status=SyncStatus.SYNCED).exists():
                break
            SyncState.objects.update(next_attempt_at=None)
            drain(worker="A")
    finally:
        done.set()
        second.join(timeout=30)

    assert overlaps == []
    for customer in customers:
        assert (
            thredfi_fake.count_by_external_id("customers")[customer.get_thredfi_external_id()] == 1
        )


def test_a_new_save_is_claimed_before_a_bulk_resync_of_another_business(queue):
    from tests.testapp.factories import make_customer
    from thredfi_django.recording import resync

    big = make_account()
    for _ in range(30):
        make_customer(big)
    absorb.absorb_all()
    backlog = SyncState.objects.filter(business__object_id=str(big.pk))
    resync.request_sync(SyncState.objects.all(), enqueue_tasks=False, backfill=True)
    assert set(SyncState.objects.values_list("lane", flat=True)) == {1}

    saved_now = make_customer(make_account())
    absorb.absorb_all()
    claimed = leases.claim("w", 5)
    mine = {absorb.state_for(saved_now).pk, absorb.state_for(saved_now.account).pk}
    assert mine <= {state.pk for _token, state in claimed}, "live work goes first"
    assert backlog.count() == 30

    saved_again = next(iter(backlog.filter(status=SyncStatus.PENDING)))
    customer = saved_again.content_object
    customer.name = "Renamed while queued"
    customer.save()
    absorb.absorb_all()
    saved_again.refresh_from_db()
    assert saved_again.lane == 0, "a save moves a backfill row to the live lane"


def test_a_push_that_ends_blocked_keeps_a_save_made_during_it_pending(queue):
    """The save may have moved the object off what it waited for: it is tried again."""
    from tests.testapp.factories import make_customer
    from thredfi_django.engine.plan import Blocked

    customer = make_customer()
    state = absorb.state_for(customer)
    dependency = absorb.state_for(customer.account)
    ((token, claimed),) = leases.claim("w", 1, state_id=state.pk)
    SyncState.objects.filter(pk=state.pk).update(version=claimed.version + 1)  # saved meanwhile
    blocked = results.Push(token, claimed, blocked=Blocked(dependency, "Waiting for it"))
    (result,) = outcomes.record([blocked], "w")
    assert result.status == SyncStatus.PENDING

    ((token, claimed),) = leases.claim("w", 1, state_id=state.pk)
    blocked = results.Push(token, claimed, blocked=Blocked(dependency, "Waiting for it"))
    (result,) = outcomes.record([blocked], "w")
    assert result.status == SyncStatus.BLOCKED, "the same version blocks again, no loop"
