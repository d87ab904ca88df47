"""A claim's statements are built once and bound to each claim's own values (PostgreSQL)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.utils import timezone

from thredfi_django import sql
from thredfi_django.models import SyncState

pytestmark = pytest.mark.django_db


@pytest.fixture
def builds(monkeypatch):
    """Statements start unprepared; returns the values each build was called with."""
    monkeypatch.setattr(sql, "_prepared", type(sql._prepared)())
    return []


def due_since(builds: list):
    def build(values):
        builds.append(values)
        rows = SyncState.objects.filter(updated_at__lte=values["now"], lease_owner=values["who"])
        return sql.subquery_sql(rows.values("pk")[:5])

    return build


def test_each_call_binds_its_own_values_to_the_statement_built_once(builds):
    first, second = timezone.now(), timezone.now() + dt.timedelta(hours=1)

    one = sql.prepared("default", "due", due_since(builds), {"now": first, "who": "w/1"})
    two = sql.prepared("default", "due", due_since(builds), {"now": second, "who": "w/2"})

    assert one[0] == two[0]
    assert "w/1" in one[1] and "w/2" in two[1]
    if connection.vendor == "postgresql":
        assert first in one[1] and second in two[1]
        assert len(builds) == 1, "built once, with stand-ins"
        assert builds[0]["now"] not in (first, second)
    else:
        assert [b["now"] for b in builds] == [first, second], "built for each call"


def test_a_value_django_writes_into_the_text_is_refused_where_statements_are_kept(builds):
    def limited(values):
        return sql.subquery_sql(SyncState.objects.values("pk")[: values["limit"]])

    if connection.vendor != "postgresql":
        assert "LIMIT 7" in sql.prepared("default", "limited", limited, {"limit": 7})[0]
        return
    with pytest.raises(ValueError, match="limit"):
        sql.prepared("default", "limited", limited, {"limit": 7})


def test_a_claim_binds_its_own_time(builds):
    if connection.vendor != "postgresql":
        pytest.skip("statements are kept on PostgreSQL only; elsewhere each call builds its own")
    from tests.test_claim_turns import business, queue
    from thredfi_django.engine import leases

    a = business("A")
    queue(a, 2)
    later = timezone.now() + dt.timedelta(hours=1)
    SyncState.objects.filter(business=a).exclude(pk=a.pk).update(next_attempt_at=later)

    assert leases.claim("w", 10) == []  # A's own row is not due either: it is the business
    assert len(leases.claim("w", 10, now=later + dt.timedelta(seconds=1))) == 2
