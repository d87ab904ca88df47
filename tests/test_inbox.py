"""A synced save marks its own row (``thredfi_dirty``) in the same statement and writes nothing
else; ``absorb.absorb`` takes markers into the outbox in bulk, and never loses a newer save."""

from __future__ import annotations

import contextlib
import uuid
import warnings
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from tests.testapp.factories import make_account, make_customer, make_invoice
from tests.testapp.models import Customer, Invoice, InvoiceLine
from thredfi_django import sql
from thredfi_django.engine import absorb, leases, outcomes, results
from thredfi_django.engine.plan import RemoteCall
from thredfi_django.engine.send import Answer
from thredfi_django.engine.sweep import sweep
from thredfi_django.models import SyncState, SyncStatus

pytestmark = pytest.mark.django_db


def marker(obj) -> int | None:
    """The marker as committed in the database (not the instance's copy)."""
    return type(obj)._base_manager.filter(pk=obj.pk).values_list("thredfi_dirty", flat=True)[0]


def statements(block) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        block()
    return [q["sql"] for q in queries.captured_queries]


def test_a_save_is_one_statement_like_a_plain_models_and_writes_no_outbox_row():
    account = make_account()
    SyncState.objects.all().delete()
    synced = statements(lambda: Customer.objects.create(account=account, name="Jo"))
    plain = statements(lambda: Group.objects.create(name="plain"))
    assert len(synced) == len(plain) == 1
    assert "thredfi_dirty" in synced[0]
    assert SyncState.objects.count() == 0
    customer = Customer.objects.get(name="Jo")
    assert marker(customer) is not None

    customer.name = "Jo Bloggs"
    previous = marker(customer)
    update = statements(customer.save)
    assert len(update) == 1 and update[0].startswith("UPDATE")
    assert marker(customer) not in (None, previous), "every save writes a fresh token"


def test_absorb_records_a_pending_due_row_and_clears_the_marker():
    customer = make_customer()
    assert absorb.absorb() == 2  # the customer and its business
    state = SyncState.objects.get(object_id=str(customer.pk), resource="customer")
    assert (state.status, state.version, state.next_attempt_at) == (SyncStatus.PENDING, 1, None)
    assert state.business == SyncState.objects.get(resource="business")
    assert state.label == str(customer)
    assert state.external_id == customer.get_thredfi_external_id()
    assert marker(customer) is None and marker(customer.account) is None
    assert absorb.absorb() == 0
    assert leases.claim("worker", 10), "absorbed rows are claimable at once"


def test_absorbing_again_bumps_the_version_and_reopens_a_synced_row():
    customer = make_customer()
    absorb.absorb()
    state = absorb.state_for(customer)
    SyncState.objects.filter(pk=state.pk).update(status=SyncStatus.SYNCED, synced_version=1)
    customer.name = "Renamed"
    customer.save()
    absorb.absorb()
    state.refresh_from_db()
    assert (state.status, state.version, state.label) == (SyncStatus.PENDING, 2, "Renamed")


def test_a_save_between_the_read_and_the_clear_keeps_its_marker(monkeypatch):
    """Compare-and-set: the newer token is not cleared, so that save is taken in again."""
    customer = make_customer()
    absorb.absorb()
    customer.name = "First"
    customer.save()
    real_load = absorb._load

    def load_then_save_again(model, using, pks):
        loaded = real_load(model, using, pks)
        if model is Customer:
            fresh = Customer.objects.get(pk=customer.pk)
            fresh.name = "Second"
            fresh.save()
        return loaded

    monkeypatch.setattr(absorb, "_load", load_then_save_again)
    absorb.absorb()
    assert marker(customer) is not None, "the second save's marker survived"
    monkeypatch.setattr(absorb, "_load", real_load)
    absorb.absorb()
    state = absorb.state_for(customer)
    assert (state.version, state.label, marker(customer)) == (3, "Second", None)


def test_a_save_during_a_push_makes_the_push_end_pending():
    customer = make_customer()
    state = absorb.state_for(customer)
    ((token, claimed),) = leases.claim("worker", 1, state_id=state.pk)
    customer.name = "Saved while pushing"
    customer.save()
    absorb.absorb()
    state.refresh_from_db()
    assert (state.status, state.version) == (SyncStatus.IN_PROGRESS, claimed.version + 1)
    pushed = results.Push(
        token,
        claimed,
        customer,
        call=RemoteCall("customer", "create"),
        answer=Answer({"id": str(uuid.uuid4())}, created=True, requests=1),
    )
    (result,) = outcomes.record([pushed], "worker")
    assert (result.outcome, result.status) == ("synced", SyncStatus.PENDING), "pushed once more"


def test_a_rolled_back_save_leaves_no_marker():
    customer = make_customer()
    absorb.absorb()
    with pytest.raises(RuntimeError), transaction.atomic():
        customer.name = "Never committed"
        customer.save()
        raise RuntimeError
    assert marker(customer) is None
    assert absorb.absorb() == 0


def test_saving_only_untracked_fields_marks_nothing(django_capture_on_commit_callbacks):
    customer = make_customer()
    absorb.absorb()
    customer.thredfi_id = "0b7e4d3a-5f7c-4c1e-9a51-2f7d3c1b9e10"
    with django_capture_on_commit_callbacks() as callbacks:
        customer.save(update_fields=["thredfi_id"])
    assert marker(customer) is None
    assert callbacks == [], "no drain asked for"


def test_update_fields_saves_the_marker_with_them():
    customer = make_customer()
    absorb.absorb()
    customer.name = "Only the name"
    sql = statements(lambda: customer.save(update_fields=["name"]))
    assert len(sql) == 1 and "thredfi_dirty" in sql[0]
    assert marker(customer) is not None


def test_update_fields_given_positionally_still_carry_the_marker():
    # save(force_insert, force_update, using, update_fields): accepted by Django before 6.0.
    customer = make_customer()
    absorb.absorb()
    customer.name = "Renamed positionally"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # Django 5.1+ warns, and saves
        sql = statements(lambda: customer.save(False, False, None, ["name"]))
    assert len(sql) == 1 and "thredfi_dirty" in sql[0]
    assert marker(customer) is not None
    absorb.absorb()
    assert absorb.state_for(customer).label == "Renamed positionally"
    with pytest.raises(TypeError, match="pass them by name"):
        customer.save(False, False, None, ["name"], update_fields=["name"])


def test_absorbing_n_rows_costs_a_constant_number_of_statements():
    def absorb_statements(n: int) -> int:
        account = make_account()
        for i in range(n):
            Customer.objects.create(account=account, name=f"C{i}")
        with CaptureQueriesContext(connection) as queries:
            assert absorb.absorb() == n + 1
        return len(queries)

    assert absorb_statements(3) == absorb_statements(30)


def test_lines_mark_their_parent_once_per_transaction(django_capture_on_commit_callbacks):
    invoice = make_invoice(lines=[])
    absorb.absorb()
    table = Invoice._meta.db_table
    with django_capture_on_commit_callbacks() as callbacks:
        with CaptureQueriesContext(connection) as queries, transaction.atomic():
            for n in range(5):
                InvoiceLine.objects.create(invoice=invoice, description=f"{n}", unit_price=1)
    sql = [q["sql"] for q in queries.captured_queries]
    parent_updates = [q for q in sql if q.startswith(f'UPDATE "{table}"')]
    assert len(parent_updates) == 1
    assert marker(invoice) is not None
    assert len(callbacks) == 1, "one after-commit callback for the whole transaction"
    assert SyncState.objects.get(resource="invoice").version == 1, "nothing recorded yet"
    absorb.absorb()
    assert SyncState.objects.get(resource="invoice").version == 2


def test_state_for_takes_in_a_marked_object_first():
    invoice = make_invoice()
    assert SyncState.objects.count() == 0
    state = absorb.state_for(invoice)
    assert (state.status, state.resource) == (SyncStatus.PENDING, "invoice")
    assert state.business == SyncState.objects.get(resource="business")
    assert marker(invoice) is None


def test_the_sweep_takes_in_markers_whose_drain_kick_was_lost(queue):
    customer = make_customer(name="Lost kick")
    assert sweep() == 2
    state = absorb.state_for(customer)
    assert state.pk in queue.ids and state.status == SyncStatus.PENDING


def test_the_multi_row_upsert_and_the_orm_fallback_record_the_same(request):
    def recorded() -> list[tuple]:
        customer = make_customer(make_account(legal_name="Acme Ltd"), name="Same")
        absorb.absorb()
        customer.save()
        absorb.absorb()
        row = SyncState.objects.values_list("resource", "version", "status", "label").order_by(
            "resource"
        )
        result = list(row)
        SyncState.objects.all().delete()
        return result

    native = recorded()
    stack = contextlib.ExitStack()
    stack.enter_context(sql.limited_to(sql.PLAIN))
    request.addfinalizer(stack.close)
    assert recorded() == native
    assert native == [
        ("business", 1, SyncStatus.PENDING, "Acme Ltd"),
        ("customer", 2, SyncStatus.PENDING, "Same"),
    ]


def test_deleting_a_line_marks_its_parent(committed):
    with committed():  # a transaction of its own: its lines' marks are not this one's
        invoice = make_invoice(lines=[(Decimal("2"), Decimal("50.00"))])
    line = invoice.lines.get()
    assert marker(invoice) is None
    line.delete()
    assert marker(invoice) is not None
