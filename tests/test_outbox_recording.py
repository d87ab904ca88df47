"""Saving a synced model marks its own row in the same statement; the drain its commit wakes
takes the marker into the outbox (the fixtures do that after each ``committed()`` block) and the
row is enqueued once."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import uuid
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone
from kombu.exceptions import OperationalError

from tests.testapp.factories import make_account, make_customer, make_invoice
from tests.testapp.models import Account, Customer, Invoice, InvoiceLine
from thredfi_django import sql
from thredfi_django.conf import thredfi_settings
from thredfi_django.engine import absorb
from thredfi_django.engine.sweep import sweep
from thredfi_django.models import SyncOperation, SyncState, SyncStatus
from thredfi_django.recording import changes, resync, wake

pytestmark = pytest.mark.django_db


def state_of(obj) -> SyncState:
    return absorb.state_for(obj)


def test_a_save_records_a_pending_row_and_enqueues_it_after_commit(queue, committed):
    with committed():
        account = make_account(legal_name="Acme Ltd")
        assert queue.ids == [], "nothing is published before the transaction commits"
    state = state_of(account)
    assert state.status == SyncStatus.PENDING
    assert (state.resource, state.version, state.synced_version) == ("business", 1, 0)
    assert state.external_id == f"dj:tests:testapp.account:{account.pk}"
    assert state.label == "Acme Ltd"
    assert queue.ids == [state.pk]


def test_objects_are_linked_to_their_business_row(queue, committed):
    with committed():
        customer = make_customer()
    assert state_of(customer).business == state_of(customer.account)


def test_ten_saves_in_one_transaction_make_one_row_and_one_task(queue, committed):
    with committed():
        account = make_account()
        for n in range(9):
            account.legal_name = f"Acme {n}"
            account.save()
    state = state_of(account)
    assert state.version == 1, "one marker, taken in once: the version counts what was taken in"
    assert state.label == "Acme 8"
    assert queue.ids == [state.pk]


def test_a_rolled_back_save_records_nothing_and_enqueues_nothing(queue, committed):
    with committed():
        with pytest.raises(RuntimeError), transaction.atomic():
            make_account()
            raise RuntimeError("the host's transaction fails")
    assert SyncState.objects.count() == 0
    assert queue.ids == []


def test_a_rolled_back_savepoint_does_not_lose_the_outer_transactions_task(queue, committed):
    with committed():
        with transaction.atomic():
            with pytest.raises(RuntimeError), transaction.atomic():
                make_account()
                raise RuntimeError
            kept = make_account()
    assert queue.ids == [state_of(kept).pk]


def test_editing_a_line_marks_its_invoice_dirty_and_one_update_query_does_it(
    queue, committed, django_assert_num_queries
):
    with committed():
        invoice = make_invoice()
    before = state_of(invoice).version
    line = invoice.lines.get()
    line.quantity = Decimal("3")
    queue.clear()
    with committed(), django_assert_num_queries(2):  # the line UPDATE + the outbox UPDATE
        line.save()
    assert state_of(invoice).version == before + 1
    assert queue.ids == [], "still pending from its creation: the task already queued will do"
    SyncState.objects.filter(pk=state_of(invoice).pk).update(status=SyncStatus.SYNCED)
    with committed():
        line.delete()
    assert state_of(invoice).version == before + 2
    assert queue.ids == [state_of(invoice).pk], "synced, then changed: a new task"


def test_saves_to_a_row_already_waiting_for_a_push_publish_no_more_tasks(queue, committed):
    with committed():
        account = make_account()
    for n in range(5):
        with committed():
            account.legal_name = f"Acme {n}"
            account.save()
    state = state_of(account)
    assert (state.version, queue.ids) == (6, [state.pk])
    assert state.label == "Acme 4"


def test_a_save_costs_no_outbox_query(queue, committed, django_assert_num_queries):
    with committed():
        customer = make_customer()
    customer.name = "Renamed"
    with committed():
        with django_assert_num_queries(1):  # the host UPDATE, its marker included
            customer.save()
    assert state_of(customer).version == 2


def test_deleting_records_a_delete_and_keeps_the_remote_id(queue, committed):
    remote = uuid.uuid4()
    with committed():
        customer = make_customer()
        Customer.objects.filter(pk=customer.pk).update(thredfi_id=remote)
        SyncState.objects.filter(pk=state_of(customer).pk).update(remote_id=remote)
        pk = customer.pk
        customer.delete()
    state = SyncState.objects.get(object_id=str(pk), resource="customer")
    assert state.operation == SyncOperation.DELETE
    assert state.remote_id == remote
    assert state.status == SyncStatus.PENDING


def test_deleting_an_invoice_ends_as_a_delete_even_though_its_lines_go_first(queue, committed):
    with committed():
        invoice = make_invoice()
        pk = invoice.pk
        invoice.delete()
    state = SyncState.objects.get(resource="invoice", object_id=str(pk))
    assert state.operation == SyncOperation.DELETE


def test_saving_only_the_thredfi_id_is_not_a_change(queue, committed):
    with committed():
        account = make_account()
    account.thredfi_id = uuid.uuid4()
    with committed():
        account.save(update_fields=["thredfi_id"])
    assert state_of(account).version == 1


def test_bulk_writes_are_recorded_with_mark_dirty_many(queue, committed):
    with committed():
        account = make_account()
        Customer.objects.bulk_create([Customer(account=account, name=f"C{i}") for i in range(3)])
    assert SyncState.objects.filter(resource="customer").count() == 0, "bulk_create sends no signal"
    with committed():
        ids = changes.mark_dirty_many(Customer.objects.filter(account=account))
    assert len(ids) == 3
    assert SyncState.objects.filter(resource="customer", status="pending").count() == 3


def test_a_new_save_reopens_a_row_that_needs_attention(queue, committed):
    with committed():
        account = make_account()
    SyncState.objects.filter(pk=state_of(account).pk).update(
        status=SyncStatus.NEEDS_ATTENTION, attempts=3, last_error_message="bad email"
    )
    with committed():
        account.email = "fixed@acme.example"
        account.save()
    state = state_of(account)
    assert (state.status, state.attempts, state.version) == (SyncStatus.PENDING, 0, 2)


def test_a_save_during_a_push_keeps_the_row_in_progress_but_bumps_the_version(queue, committed):
    with committed():
        account = make_account()
    SyncState.objects.filter(pk=state_of(account).pk).update(status=SyncStatus.IN_PROGRESS)
    with committed():
        account.save()
    state = state_of(account)
    assert (state.status, state.version) == (SyncStatus.IN_PROGRESS, 2)


def test_a_save_during_backoff_keeps_the_retry_schedule(queue, committed):
    with committed():
        account = make_account()
    later = timezone.now() + dt.timedelta(minutes=5)
    SyncState.objects.filter(pk=state_of(account).pk).update(attempts=2, next_attempt_at=later)
    with committed():
        account.save()
    state = state_of(account)
    assert (state.attempts, state.next_attempt_at) == (2, later)


def test_with_the_broker_down_the_save_commits_and_the_sweep_enqueues_it_later(
    queue, committed, monkeypatch, caplog
):

    def broker_down(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(wake.current_app, "send_task", broker_down)
    with caplog.at_level(logging.WARNING, logger="thredfi_django"), committed():
        invoice = make_invoice()
    assert Invoice.objects.filter(pk=invoice.pk).exists(), "the save itself succeeded"
    assert "sweep" in caplog.text and "Connection refused" in caplog.text
    assert all(s.status == SyncStatus.PENDING for s in SyncState.objects.all())

    monkeypatch.setattr(wake.current_app, "send_task", queue.publish)  # the broker is back
    assert sweep() == 0, "fresh rows are not swept: their task may still be on its way"
    later = timezone.now() + dt.timedelta(seconds=61)
    with committed():
        assert sweep(now=later) == 3  # the business, the customer and the invoice
    assert sorted(queue.ids) == sorted(SyncState.objects.values_list("pk", flat=True))
    queue.clear()
    with committed():
        assert sweep(now=later) == 0, "a swept row is not swept again straight away"


def test_request_sync_puts_failed_rows_back_and_enqueues_them_without_http(queue, committed):
    with committed():
        accounts = [make_account() for _ in range(3)]
    states = [state_of(a) for a in accounts]
    SyncState.objects.filter(pk=states[0].pk).update(status=SyncStatus.FAILED, attempts=10)
    SyncState.objects.filter(pk=states[1].pk).update(
        status=SyncStatus.SYNCED, synced_version=1, remote_id=uuid.uuid4()
    )
    SyncState.objects.filter(pk=states[2].pk).update(
        status=SyncStatus.PENDING,
        attempts=4,
        next_attempt_at=timezone.now() + dt.timedelta(hours=1),
    )
    queue.clear()
    with committed():
        assert resync.request_sync(SyncState.objects.all()) == 3
    refreshed = {s.pk: s for s in SyncState.objects.all()}
    assert refreshed[states[0].pk].attempts == 0
    assert refreshed[states[1].pk].version == 2, "a synced row is pushed again"
    assert refreshed[states[2].pk].next_attempt_at is None, "due now"
    assert all(s.status == SyncStatus.PENDING for s in refreshed.values())
    assert sorted(queue.ids) == sorted(refreshed)


def test_request_sync_changes_each_row_only_as_its_status_asks(queue, committed):
    with committed():
        accounts = [make_account() for _ in range(5)]
    blocked, waiting, synced, busy, failed = (state_of(a) for a in accounts)
    SyncState.objects.filter(pk=blocked.pk).update(
        status=SyncStatus.BLOCKED, blocked_on=synced, attempts=2
    )
    SyncState.objects.filter(pk=waiting.pk).update(status=SyncStatus.PENDING, attempts=4)
    SyncState.objects.filter(pk=synced.pk).update(
        status=SyncStatus.SYNCED, version=3, synced_version=3, attempts=0
    )
    SyncState.objects.filter(pk=busy.pk).update(status=SyncStatus.IN_PROGRESS, version=5)
    SyncState.objects.filter(pk=failed.pk).update(status=SyncStatus.FAILED, attempts=10)
    with committed():
        assert resync.request_sync(SyncState.objects.all(), reset_failures=False) == 2

    now = {s.pk: s for s in SyncState.objects.all()}
    assert (now[waiting.pk].attempts, now[waiting.pk].version) == (4, 1), "only made due"
    assert (now[synced.pk].status, now[synced.pk].version) == (SyncStatus.PENDING, 4)
    assert (now[busy.pk].status, now[busy.pk].version) == (SyncStatus.IN_PROGRESS, 5)
    assert (now[failed.pk].status, now[failed.pk].attempts) == (SyncStatus.FAILED, 10)
    assert now[blocked.pk].status == SyncStatus.BLOCKED, "failures kept without reset"

    with committed():
        assert resync.request_sync(SyncState.objects.all()) == 4
    now = {s.pk: s for s in SyncState.objects.all()}
    assert (now[blocked.pk].status, now[blocked.pk].blocked_on_id) == (SyncStatus.PENDING, None)
    assert (now[blocked.pk].attempts, now[failed.pk].attempts) == (0, 0)
    assert now[waiting.pk].attempts == 4, "a pending row's attempts are not reset"
    assert now[synced.pk].version == 4, "already pending: not bumped again"
    assert now[busy.pk].status == SyncStatus.IN_PROGRESS, "a push in flight is left alone"


def test_a_bulk_request_sync_makes_rows_due_for_the_sweep_without_a_task_each(
    queue, committed, monkeypatch
):
    monkeypatch.setattr(thredfi_settings, "REQUEST_CHUNK", 2)  # 5 rows → 3 chunks
    with committed():
        accounts = [make_account() for _ in range(5)]
    SyncState.objects.update(status=SyncStatus.FAILED, attempts=10)
    queue.clear()
    with committed():
        assert resync.request_sync(SyncState.objects.all(), enqueue_tasks=False) == 5
    assert queue.ids == [], "no task per row"
    now = timezone.now()
    states = SyncState.objects.all()
    assert {s.status for s in states} == {SyncStatus.PENDING}
    assert all(s.attempts == 0 and s.next_attempt_at <= now for s in states), "due at once"
    assert sweep() == len(accounts), "the sweep hands every due row to the workers"
    assert sorted(queue.ids) == sorted(s.pk for s in states)


def test_state_for_an_unsaved_or_untracked_object_is_none():
    assert absorb.state_for(Account(legal_name="x")) is None
    line_parent = make_invoice()
    assert absorb.state_for(line_parent) is not None
    assert InvoiceLine.objects.count() == 1


def test_databases_without_upsert_returning_record_the_same_way(queue, committed, request):
    stack = contextlib.ExitStack()
    stack.enter_context(sql.limited_to(sql.PLAIN))
    request.addfinalizer(stack.close)
    with committed():
        invoice = make_invoice()
        invoice.memo = "again"
        invoice.save()
    state = state_of(invoice)
    assert (state.version, state.status, state.business) == (
        1,  # the create and the second save: one marker, taken in once
        SyncStatus.PENDING,
        state_of(invoice.account),
    )
    SyncState.objects.filter(pk=state.pk).update(status=SyncStatus.FAILED, attempts=10)
    with committed():
        invoice.lines.get().save()
    state.refresh_from_db()
    assert (state.version, state.status, state.attempts) == (2, SyncStatus.PENDING, 0)
    assert sorted(set(queue.ids)) == sorted(SyncState.objects.values_list("pk", flat=True))


def test_an_invoice_saved_with_many_lines_bumps_its_row_once_per_transaction(
    queue, committed, django_assert_num_queries
):
    customer = make_customer()
    # SAVEPOINT + RELEASE (the test runs inside a transaction), the invoice and its outbox row,
    # then 50 line INSERTs and no further outbox query.
    with committed(), django_assert_num_queries(2 + 2 + 50):
        with transaction.atomic():
            invoice = Invoice.objects.create(
                account=customer.account, customer=customer, number="1"
            )
            for n in range(50):
                InvoiceLine.objects.create(invoice=invoice, description=f"{n}", unit_price=1)
    assert state_of(invoice).version == 1


def test_a_bump_undone_by_a_savepoint_rollback_is_made_again(queue, committed):
    with committed():
        invoice = make_invoice()
    synced_version = state_of(invoice).version
    SyncState.objects.filter(pk=state_of(invoice).pk).update(
        status=SyncStatus.SYNCED, synced_version=synced_version
    )
    with committed(), transaction.atomic():
        with pytest.raises(RuntimeError), transaction.atomic():
            invoice.save()
            raise RuntimeError("the host's inner block fails")
        invoice.lines.get().save()  # a real change that must still be recorded
    state = state_of(invoice)
    assert (state.status, state.version) == (SyncStatus.PENDING, synced_version + 1)


def test_a_bump_released_into_a_savepoint_that_then_rolls_back_is_made_again(queue, committed):
    with committed():
        invoice = make_invoice()
    synced_version = state_of(invoice).version
    SyncState.objects.filter(pk=state_of(invoice).pk).update(
        status=SyncStatus.SYNCED, synced_version=synced_version
    )
    queue.clear()
    with committed(), transaction.atomic():
        make_account()  # the transaction's batch now outlives the blocks below
        with pytest.raises(RuntimeError), transaction.atomic():
            with transaction.atomic():  # released: its bump now belongs to the block around it
                invoice.lines.get().save()
            raise RuntimeError("the enclosing block fails, and takes the bump with it")
        invoice.lines.get().save()  # a real change that must still be recorded
    state = state_of(invoice)
    assert (state.status, state.version) == (SyncStatus.PENDING, synced_version + 1)
    assert state.pk in queue.ids
