"""How a push commits: its lease in one commit, its whole outcome in one more.

These tests commit for real (``transaction=True``), the way a worker in autocommit does, so the
statements can be grouped by the commit that makes them last.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.testapp.factories import make_customer, make_invoice
from thredfi_django.engine import absorb, outcomes
from thredfi_django.engine.drain import sync_state
from thredfi_django.models import SyncAttempt, SyncState, SyncStatus

pytestmark = pytest.mark.django_db(transaction=True)

WRITES = ("UPDATE", "INSERT", "DELETE")


def commits(queries) -> list[list[str]]:
    """The statements, grouped by the commit each one belongs to (a statement outside
    BEGIN…COMMIT commits on its own)."""
    units: list[list[str]] = []
    current: list[str] | None = None
    for sql in (q["sql"].strip() for q in queries):
        word = sql.split(None, 1)[0].upper()
        if word == "BEGIN":
            current = []
        elif word in ("COMMIT", "ROLLBACK"):
            units.append(current or [])
            current = None
        elif current is None:
            units.append([sql])
        else:
            current.append(sql)
    return units


def writing(units: list[list[str]]) -> list[list[str]]:
    return [u for u in units if any(s.split(None, 1)[0].upper() in WRITES for s in u)]


@pytest.fixture
def new_invoice(thredfi_fake, queue):
    """An invoice whose customer and business are already in Thredfi; its own push is next."""
    customer = make_customer()
    queue.drain()
    invoice = make_invoice(customer)
    queue.clear()
    return invoice


def test_a_push_commits_its_claim_and_then_its_whole_outcome_once(new_invoice, thredfi_fake):
    state_id = absorb.state_for(new_invoice).pk
    with CaptureQueriesContext(connection) as ctx:
        result = sync_state(state_id, worker="w")
    assert result.outcome == "synced"

    claim, outcome = writing(commits(ctx.captured_queries))
    assert [s.split(None, 1)[0] for s in claim if s.split(None, 1)[0] in WRITES] == ["UPDATE"]
    assert "in_progress" in " ".join(claim)
    text = "\n".join(outcome)
    assert 'UPDATE "testapp_invoice"' in text and 'SET "thredfi_id"' in text, "host remote id"
    assert 'UPDATE "thredfi_django_syncstate"' in text, "the row's release"
    assert SyncState.objects.get(pk=state_id).status == SyncStatus.SYNCED
    assert 'INSERT INTO "thredfi_django_syncattempt"' in text, "the attempt"
    new_invoice.refresh_from_db()
    assert str(new_invoice.thredfi_id) == result.remote_id


def test_a_failed_push_records_its_outcome_in_one_commit(new_invoice, thredfi_fake):
    state_id = absorb.state_for(new_invoice).pk
    thredfi_fake.fail_next(1, status=500, path_contains="/invoices/")
    with CaptureQueriesContext(connection) as ctx:
        assert sync_state(state_id, worker="w").outcome == "retry"
    claim, outcome = writing(commits(ctx.captured_queries))
    text = "\n".join(outcome)
    assert "'pending'" in text and 'INSERT INTO "thredfi_django_syncattempt"' in text


def test_a_crash_before_the_outcome_commits_leaves_nothing_half_written_and_the_retry_adopts(
    new_invoice, thredfi_fake, monkeypatch
):
    """Thredfi created the invoice, then the database went away before our outcome committed:
    neither the host's remote id nor the row's release may stay behind without the other,
    and the next push (after the lease runs out) adopts the record instead of duplicating it."""
    state_id = absorb.state_for(new_invoice).pk

    def database_gone(self, *args, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    with monkeypatch.context() as patched:
        patched.setattr(outcomes, "_insert_attempts", database_gone)
        with pytest.raises(OperationalError):
            sync_state(state_id, worker="w")

    assert thredfi_fake.count_by_external_id("invoices") == {
        new_invoice.get_thredfi_external_id(): 1
    }
    state = SyncState.objects.get(pk=state_id)
    assert (state.status, state.remote_id, state.synced_version) == (
        SyncStatus.IN_PROGRESS,
        None,
        0,
    ), "the whole outcome rolled back; the lease is still held"
    new_invoice.refresh_from_db()
    assert new_invoice.thredfi_id is None
    assert not SyncAttempt.objects.filter(state_id=state_id).exists()

    assert sync_state(state_id, worker="w2").outcome == "not_claimed", "the lease still holds"
    SyncState.objects.filter(pk=state_id).update(
        lease_until=timezone.now() - dt.timedelta(seconds=1)
    )
    result = sync_state(state_id, worker="w2")
    assert result.outcome == "synced"
    assert thredfi_fake.count_by_external_id("invoices") == {
        new_invoice.get_thredfi_external_id(): 1
    }
    (remote,) = thredfi_fake.records("invoices")
    new_invoice.refresh_from_db()
    assert str(new_invoice.thredfi_id) == remote["id"] == result.remote_id


# -- PostgreSQL: the engine's own commits do not wait for the disk; nobody else's change -------

needs_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="synchronous_commit is a PostgreSQL setting; SQLite has nothing to switch off",
)


def synchronous_commit() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return cursor.fetchone()[0]


def changes_of_synchronous_commit(queries) -> list[str]:
    return [q["sql"] for q in queries if "SET LOCAL" in q["sql"] or "set_config" in q["sql"]]


@needs_postgres
def test_the_engines_commits_keep_the_servers_durability(new_invoice, thredfi_fake):
    """A claim or an outcome lost in a crash would be pushed again, which is safe only while
    every create is looked up first; we keep the ledger's bookkeeping durable instead."""
    seen: dict[str, str] = {}

    def watch(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if sql.startswith('INSERT INTO "thredfi_django_syncattempt"'):
            seen["outcome"] = synchronous_commit()
        return result

    state_id = absorb.state_for(new_invoice).pk
    with CaptureQueriesContext(connection) as ctx, connection.execute_wrapper(watch):
        assert sync_state(state_id, worker="w").outcome == "synced"
    assert seen == {"outcome": "on"}
    assert not changes_of_synchronous_commit(ctx.captured_queries)
