"""Businesses take turns: a claim shares its batch among the businesses with due rows, live work
before backfill, so one tenant's bulk re-sync never holds back another's rows. Every story runs
on each SQL path (see test_sql_paths.py)."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.testapp.models import Account, Invoice
from thredfi_django import sql
from thredfi_django.engine import leases
from thredfi_django.models import SyncLane, SyncState

pytestmark = pytest.mark.django_db

PATHS = {
    "native": sql.Features(returning=True, skip_locked=True, arrays=True),
    "returning-only": sql.Features(returning=True, skip_locked=False, arrays=False),
    "plain": sql.PLAIN,
}
LIVE, BACKFILL = SyncLane.LIVE, SyncLane.BACKFILL
HOUR = dt.timedelta(hours=1)


@pytest.fixture(params=list(PATHS))
def path(request):
    with sql.limited_to(PATHS[request.param]):
        yield request.param


def business(name: str) -> SyncState:
    """A business's own row, already synced."""
    return SyncState.objects.create(
        content_type=ContentType.objects.get_for_model(Account),
        object_id=name,
        resource="business",
        external_id=f"business:{name}",
        status="synced",
    )


def queue(owner: SyncState, n: int, lane: int = BACKFILL) -> list[int]:
    """``n`` pending invoices of ``owner`` in ``lane``, newer than every row so far."""
    invoice = ContentType.objects.get_for_model(Invoice)
    start = SyncState.objects.filter(business=owner).count()
    rows = SyncState.objects.bulk_create(
        SyncState(
            content_type=invoice,
            object_id=f"{owner.object_id}-{start + i}",
            resource="invoice",
            business=owner,
            external_id=f"invoice:{owner.object_id}-{start + i}",
            lane=lane,
        )
        for i in range(n)
    )
    return [row.pk for row in rows]


def claimed_per_business(claimed) -> Counter:
    return Counter(state.business.object_id for _token, state in claimed)


def test_a_small_tenants_backfill_is_not_held_behind_a_large_ones(path):
    a, b = business("A"), business("B")
    queue(a, 50)
    queue(b, 5)

    claimed = leases.claim("w", 10)

    assert claimed_per_business(claimed) == {"A": 5, "B": 5}
    oldest_of_a = SyncState.objects.filter(business=a).order_by("pk")[:5]
    assert {s.pk for s in oldest_of_a} <= {s.pk for _t, s in claimed}, "each one's oldest first"


def test_a_business_with_fewer_rows_than_its_share_leaves_the_rest_to_others(path):
    a, b = business("A"), business("B")
    queue(a, 50)
    queue(b, 2)

    assert claimed_per_business(leases.claim("w", 10)) == {"A": 8, "B": 2}


def test_live_rows_of_any_business_come_before_backfill_rows(path):
    a, b, c = business("A"), business("B"), business("C")
    queue(a, 40)
    queue(b, 3, LIVE)
    queue(c, 30, LIVE)

    first = leases.claim("w", 10)
    assert {state.lane for _t, state in first} == {LIVE}
    assert claimed_per_business(first) == {"B": 3, "C": 7}

    second = leases.claim("w", 30)
    assert claimed_per_business(second) == {"C": 23, "A": 7}, "live rows left, then backfill"


def test_with_more_businesses_than_the_batch_each_waiting_longest_gets_one_row(path):
    owners = [business(name) for name in "ABCDEFGHIJKL"]
    for owner in owners:
        queue(owner, 3)

    claimed = claimed_per_business(leases.claim("w", 10))

    assert claimed == dict.fromkeys("ABCDEFGHIJ", 1)


def test_a_claim_over_many_businesses_takes_as_many_queries_as_over_two(path):
    def queries_to_claim_ten(owners: str) -> int:
        for name in owners:
            queue(business(name), 10 // len(owners))
        with CaptureQueriesContext(connection) as queries:
            assert len(leases.claim("w", 10)) == 10
        return len(queries)

    assert queries_to_claim_ten("ABCDEFGHIJ") == queries_to_claim_ten("KL")


def test_a_claim_that_takes_everything_due_stops_there(path):
    """A drain under a steady stream of saves claims a few rows at a time: finding that nothing
    more is due must not cost a second look."""

    def queries_to_claim(rows: dict[str, int], limit: int) -> int:
        for name, n in rows.items():
            queue(business(name), n)
        with CaptureQueriesContext(connection) as queries:
            assert len(leases.claim("w", limit)) == 5
        SyncState.objects.all().delete()
        return len(queries)

    everything_due = queries_to_claim({"A": 3, "B": 2}, limit=10)
    a_full_batch = queries_to_claim({"C": 5, "D": 5}, limit=5)

    assert everything_due == a_full_batch


def test_one_row_is_claimed_by_its_id_whatever_its_turn(path):
    a, b = business("A"), business("B")
    queue(a, 20)
    (newest,) = queue(b, 1)

    claimed = leases.claim("w", 1, state_id=newest)

    assert [state.pk for _token, state in claimed] == [newest]


def test_a_paused_business_and_a_paused_model_are_passed_over(path):
    a, b = business("A"), business("B")
    queue(a, 20)
    queue(b, 5)
    queue(b, 2, LIVE)

    claimed = leases.claim("w", 10, exclude_businesses=[b.pk])
    assert claimed_per_business(claimed) == {"A": 10}

    b.status = "pending"
    b.save()
    invoice = ContentType.objects.get_for_model(Invoice)
    claimed = leases.claim("w", 10, exclude_content_types=[invoice.pk])
    assert [state.pk for _token, state in claimed] == [b.pk], "only B's own row is no invoice"


def test_rows_another_claim_takes_first_leave_this_claim_the_next_lane(path, monkeypatch):
    a, b = business("A"), business("B")
    queue(a, 3, LIVE)
    queue(b, 5)
    real_take = leases._Statements.take

    def another_claim_takes_the_live_rows_first(*args, **kwargs):
        SyncState.objects.filter(lane=LIVE, status="pending").update(
            status="in_progress", lease_owner="other", lease_until=timezone.now() + HOUR
        )
        return real_take(*args, **kwargs)

    monkeypatch.setattr(leases._Statements, "take", another_claim_takes_the_live_rows_first)

    assert claimed_per_business(leases.claim("w", 10)) == {"B": 5}


@pytest.mark.django_db(transaction=True)
def test_two_claims_at_once_never_take_the_same_row():
    if connection.vendor != "postgresql":
        pytest.skip("SQLite runs one writer at a time")
    owners = [business(name) for name in "ABCD"]
    for owner, n in zip(owners, (200, 50, 5, 1), strict=True):
        queue(owner, n)
    taken: list[list[int]] = [[], []]
    start = threading.Barrier(2)

    def claim_all(mine: list[int]) -> None:
        try:
            start.wait()
            while claimed := leases.claim("w", 7):
                mine += [state.pk for _token, state in claimed]
        finally:
            connection.close()

    threads = [threading.Thread(target=claim_all, args=(mine,)) for mine in taken]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not set(taken[0]) & set(taken[1])
    assert len(taken[0]) + len(taken[1]) == 256


def test_each_claim_binds_its_own_time_and_leaves_out_its_own_paused_businesses(path):
    a, b = business("A"), business("B")
    queue(a, 2)
    queue(b, 2)
    later = timezone.now() + HOUR
    SyncState.objects.filter(business=a).update(next_attempt_at=later)

    # The same statements serve both claims (PostgreSQL): each binds its own time and pauses.
    assert claimed_per_business(leases.claim("w", 10, exclude_businesses=[b.pk])) == {}
    claimed = leases.claim("w", 10, now=later + dt.timedelta(seconds=1))
    assert claimed_per_business(claimed) == {"A": 2, "B": 2}
