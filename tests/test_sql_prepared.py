"""A claim's statements are built once and bound to each claim's own values (PostgreSQL)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.utils import timezone

from thredfi_django import prepared as statements
from thredfi_django import sql
from thredfi_django.models import SyncState

pytestmark = pytest.mark.django_db


@pytest.fixture
def builds(monkeypatch):
    """Statements start unprepared; returns the values each build was called with."""
    monkeypatch.setattr(statements, "_kept", type(statements._kept)())
    return []


def due_since(builds: list):
    def build(values):
        builds.append(values)
        rows = SyncState.objects.filter(updated_at__lte=values["now"], lease_owner=values["who"])
        return sql.subquery_sql(rows.values("pk")[:5])

    return build


def test_each_call_binds_its_own_values_to_the_statement_built_once(builds):
    first, second = timezone.now(), timezone.now() + dt.timedelta(hours=1)

    one = statements.prepared("default", "due", due_since(builds), {"now": first, "who": "w/1"})
    two = statements.prepared("default", "due", due_since(builds), {"now": second, "who": "w/2"})

    assert one[0] == two[0]
    assert "w/1" in one[1] and "w/2" in two[1]
    if connection.vendor == "postgresql":
        assert first in one[1] and second in two[1]
        assert len(builds) == 2, "built once per key (with two sets of stand-ins)"
        assert not {b["now"] for b in builds} & {first, second}
    else:
        assert [b["now"] for b in builds] == [first, second], "built for each call"


def test_a_value_django_writes_into_the_text_is_refused_where_statements_are_kept(builds):
    def limited(values):
        return sql.subquery_sql(SyncState.objects.values("pk")[: values["limit"]])

    if connection.vendor != "postgresql":
        assert "LIMIT 7" in statements.prepared("default", "limited", limited, {"limit": 7})[0]
        return
    with pytest.raises(ValueError, match="changes the text"):
        statements.prepared("default", "limited", limited, {"limit": 7})


def test_a_constant_equal_to_a_stand_in_is_never_taken_for_a_value(builds):
    if connection.vendor != "postgresql":
        pytest.skip("statements are kept on PostgreSQL only; elsewhere each call builds its own")
    stand_ins: list[int] = []

    def build(values):
        stand_ins.append(values["version"])
        # The first build's stand-in, as a constant: a paused business's id may be anything.
        rows = SyncState.objects.filter(attempts=stand_ins[0], version=values["version"])
        return sql.subquery_sql(rows.values("pk"))

    _sql, params = statements.prepared("default", "constant", build, {"version": 7})

    assert stand_ins[0] in params, "the constant is left as it is"
    assert 7 in params
