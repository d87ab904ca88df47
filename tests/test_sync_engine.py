"""The engine against the fake Thredfi: create, update, void, ordering, coalescing, signals."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.testapp.factories import make_customer, make_invoice, make_payment
from tests.testapp.models import Account, Customer, Invoice, InvoiceLine
from thredfi_django.engine import absorb, outcomes
from thredfi_django.engine.drain import sync_state
from thredfi_django.models import SyncAttempt, SyncState, SyncStatus
from thredfi_django.signals import sync_failed, sync_succeeded

pytestmark = pytest.mark.django_db


def posts(fake, path_end: str) -> int:
    """How many POSTs reached an endpoint template ending in ``path_end``."""
    return sum(
        n
        for key, n in fake.stats.requests.items()
        if key.startswith("POST ") and key.endswith(path_end)
    )


def calls(fake, method: str) -> int:
    return sum(n for key, n in fake.stats.requests.items() if key.startswith(f"{method} "))


def test_a_saved_invoice_reaches_thredfi_with_its_business_and_customer(
    thredfi_fake, queue, committed
):
    with committed():
        invoice = make_invoice(lines=[(Decimal("2"), Decimal("50.00")), (1, Decimal("9.99"))])
    results = queue.drain()
    assert {r.outcome for r in results} == {"synced"}

    invoice.refresh_from_db()
    account = Account.objects.get()
    (remote_business,) = thredfi_fake.records("businesses")
    (remote_invoice,) = thredfi_fake.records("invoices", str(account.thredfi_id))
    assert remote_business["id"] == str(account.thredfi_id)
    assert remote_business["external_id"] == f"dj:tests:testapp.account:{account.pk}"
    assert remote_invoice["id"] == str(invoice.thredfi_id)
    assert remote_invoice["customer"]["id"] == str(invoice.customer.thredfi_id)
    assert remote_invoice["total_amount"] == 10999
    state = absorb.state_for(invoice)
    assert (state.status, state.remote_id, state.synced_version) == (
        SyncStatus.SYNCED,
        invoice.thredfi_id,
        state.version,
    )
    assert state.attempt_history.get().outcome == SyncAttempt.Outcome.SUCCESS


def test_an_object_whose_dependencies_are_new_syncs_them_first_in_the_same_task(
    thredfi_fake, queue, committed
):
    with committed():
        payment = make_payment(make_invoice())
    result = sync_state(absorb.state_for(payment).pk, worker="w")
    assert result.outcome == "synced"
    assert result.requests == 4, "business, customer, invoice, then the payment: 1 request each"
    assert [posts(thredfi_fake, p) for p in ("businesses/", "customers/", "invoices/")] == [1, 1, 1]
    assert SyncState.objects.exclude(status=SyncStatus.SYNCED).count() == 0
    (remote_payment,) = thredfi_fake.records("payments")
    assert remote_payment["external_id"] == payment.get_thredfi_external_id()
    assert remote_payment["applied_invoices"][0]["status"] == "paid"
    before = thredfi_fake.stats.total_requests
    assert {r.outcome for r in queue.drain()} == {"not_claimed"}, "their queued tasks find no work"
    assert thredfi_fake.stats.total_requests == before


def test_an_update_after_the_first_push_is_a_put_with_the_new_lines(thredfi_fake, queue, committed):
    with committed():
        invoice = make_invoice()
    queue.drain()
    with committed():
        invoice.memo = "Second thoughts"
        invoice.save()
        InvoiceLine.objects.create(invoice=invoice, description="Extra", unit_price=Decimal("5"))
    assert [r.outcome for r in queue.drain()] == ["synced"]
    assert calls(thredfi_fake, "PUT") == 1
    (remote,) = thredfi_fake.records("invoices")
    assert remote["memo"] == "Second thoughts"
    assert remote["total_amount"] == 10500
    assert len(remote["line_items"]) == 2


def test_ten_saves_become_one_push_of_the_latest_state(thredfi_fake, queue, committed):
    with committed():
        invoice = make_invoice()
    queue.drain()
    for n in range(10):
        with committed():
            invoice.memo = f"edit {n}"
            invoice.save()
    assert len(queue.ids) == 1, "one task: the first save reopened the row, the rest join it"
    results = queue.drain()
    assert [r.outcome for r in results].count("synced") == 1
    assert calls(thredfi_fake, "PUT") == 1
    assert thredfi_fake.records("invoices")[0]["memo"] == "edit 9"


def test_a_save_during_a_push_is_pushed_once_more_afterwards(
    thredfi_fake, queue, committed, monkeypatch
):
    with committed():
        invoice = make_invoice()
    queue.drain()
    real_record = outcomes.record
    edits = iter(["edited while the first push was in flight"])

    def edit_then_record(pushes, worker):
        # The request has been answered; the host's save lands before the outcome is recorded.
        text = next(edits, None)
        if text:
            with committed():
                fresh = Invoice.objects.get(pk=invoice.pk)
                fresh.memo = text
                fresh.save()
        return real_record(pushes, worker)

    monkeypatch.setattr(outcomes, "record", edit_then_record)
    with committed():
        invoice.memo = "first"
        invoice.save()
    results = queue.drain()
    assert [r.outcome for r in results if r.outcome != "not_claimed"] == ["synced", "synced"]
    assert calls(thredfi_fake, "PUT") == 2
    assert (
        thredfi_fake.records("invoices")[0]["memo"] == "edited while the first push was in flight"
    )
    state = absorb.state_for(invoice)
    assert (state.status, state.synced_version) == (SyncStatus.SYNCED, state.version)


def test_deleting_an_invoice_voids_it_and_deleting_a_customer_archives_it(
    thredfi_fake, queue, committed
):
    with committed():
        invoice = make_invoice()
        spare = make_customer(invoice.account)
    queue.drain()
    spare_external_id = spare.get_thredfi_external_id()
    with committed():
        invoice.delete()
        spare.delete()
    assert {r.outcome for r in queue.drain()} == {"synced"}
    (remote_invoice,) = thredfi_fake.records("invoices")
    assert remote_invoice["status"] == "voided"
    archived = [c for c in thredfi_fake.records("customers") if c["is_archived"]]
    assert [c["external_id"] for c in archived] == [spare_external_id]


def test_a_customer_change_after_the_first_push_is_skipped_with_a_note(
    thredfi_fake, queue, committed
):
    with committed():
        customer = make_customer()
    queue.drain()
    with committed():
        customer.name = "New name"
        customer.save()
    (result,) = queue.drain()
    assert result.outcome == "skipped"
    assert "no update endpoint for customers" in result.message
    state = absorb.state_for(customer)
    assert state.status == SyncStatus.SYNCED
    assert state.attempt_history.first().outcome == SyncAttempt.Outcome.SKIPPED
    # The save came from a stale copy (thredfi_id None in memory): the column is repaired.
    assert Customer.objects.get().thredfi_id == state.remote_id is not None
    assert len(thredfi_fake.records("customers")) == 1


def test_a_changed_payment_needs_attention_because_thredfi_cannot_update_payments(
    thredfi_fake, queue, committed
):
    with committed():
        payment = make_payment(make_invoice())
    queue.drain()
    with committed():
        payment.reference = "changed"
        payment.save()
    (result,) = queue.drain()
    assert result.outcome == "needs_attention"
    assert "Record a correction in Thredfi" in absorb.state_for(payment).last_error_message


def test_deleting_a_payment_needs_attention_naming_the_missing_delete(
    thredfi_fake, queue, committed
):
    with committed():
        payment = make_payment(make_invoice())
    queue.drain()
    with committed():
        payment.delete()
    (result,) = queue.drain()
    assert result.outcome == "needs_attention"
    assert "Thredfi has no delete for payments" in result.message


def test_an_object_deleted_before_its_first_push_sends_nothing(thredfi_fake, queue, committed):
    with committed():
        account = make_customer().account
    queue.drain()
    with committed():
        customer = Customer.objects.create(account=account, name="Short-lived")
        customer.delete()
    (result,) = queue.drain()
    assert result.outcome == "skipped"
    assert len(thredfi_fake.records("customers")) == 1


def test_success_and_failure_signals_are_sent(thredfi_fake, queue, committed):
    received = []

    def on_success(sender, instance, state, remote, created, **kwargs):
        received.append(("ok", sender, instance, remote["id"], created))

    def on_failure(sender, instance, state, error, will_retry, **kwargs):
        received.append(("failed", sender, instance, error.kind, will_retry))

    sync_succeeded.connect(on_success)
    sync_failed.connect(on_failure)
    try:
        with committed():
            account = Account.objects.create(legal_name="Signals Ltd", email="s@example.com")
        queue.drain()
        with committed():
            bad = Account.objects.create(legal_name="", email="s@example.com")
        queue.drain()
    finally:
        sync_succeeded.disconnect(on_success)
        sync_failed.disconnect(on_failure)
    account.refresh_from_db()
    assert received == [
        ("ok", Account, account, str(account.thredfi_id), True),
        ("failed", Account, bad, "local_validation", False),
    ]


def test_database_queries_per_push_do_not_grow_with_line_count(thredfi_fake, queue, committed):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with committed():
        small = make_invoice(lines=[(1, Decimal("1"))])
        big = make_invoice(small.customer, lines=[(1, Decimal("1"))] * 30)
    queue.drain()
    counts = []
    for invoice in (small, big):
        with committed():
            invoice.save()
        queue.ids[:] = [absorb.state_for(invoice).pk]
        with CaptureQueriesContext(connection) as ctx:
            queue.drain()
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1], counts
    assert counts[1] <= 12


def test_a_dry_run_shows_the_request_and_sends_and_changes_nothing(thredfi_fake, queue, committed):
    with committed():
        invoice = make_invoice()
    state = absorb.state_for(invoice)
    result = sync_state(state.pk, dry_run=True)
    assert result.outcome == "dry_run"
    assert result.request["method"] == "POST"
    assert result.request["path"] == "/v1/platform/businesses/{business_id}/invoices/"
    assert result.request["payload"]["external_id"] == invoice.get_thredfi_external_id()
    assert thredfi_fake.stats.total_requests == 0
    after = absorb.state_for(invoice)
    assert (after.status, after.version, after.attempt_history.count()) == (
        SyncStatus.PENDING,
        state.version,
        0,
    )

    queue.drain()
    with committed():
        invoice.delete()
    shown = sync_state(state.pk, dry_run=True).request
    assert (shown["action"], shown["method"]) == ("void", "POST")
    assert shown["path"].endswith(f"/invoices/{SyncState.objects.get(pk=state.pk).remote_id}/void/")
    assert posts(thredfi_fake, "/void/") == 0, "the void was shown, not sent"


def test_a_business_change_after_the_first_push_is_a_patch(thredfi_fake, queue, committed):
    with committed():
        account = Account.objects.create(legal_name="Before Ltd", email="b@example.com")
    queue.drain()
    account.refresh_from_db()
    with committed():
        account.legal_name = "After Ltd"
        account.save()
    assert [r.outcome for r in queue.drain()] == ["synced"]
    assert calls(thredfi_fake, "PATCH") == 1
    (remote,) = thredfi_fake.records("businesses")
    assert (remote["id"], remote["legal_name"]) == (str(account.thredfi_id), "After Ltd")


def test_a_row_blocked_just_after_its_dependency_synced_is_woken_at_once(
    thredfi_fake, queue, committed, monkeypatch
):
    from thredfi_django.engine import absorb, pipeline, plan

    with committed():
        customer = make_customer()
    business = absorb.state_for(customer.account)
    queue.ids[:] = [business.pk]
    queue.drain()
    # Pretend the customer's push looked at its business a moment before that business synced.
    real_ensure = pipeline.Pipeline._ensure

    def late_look(self, dependency, push):
        if dependency.thredfi_resource == "business":
            raise plan.Blocked(SyncState.objects.get(pk=business.pk), "Waiting for business")
        return real_ensure(self, dependency, push)

    monkeypatch.setattr(pipeline.Pipeline, "_ensure", late_look)
    queue.ids[:] = [absorb.state_for(customer).pk]
    assert [r.outcome for r in queue.drain(limit=1)] == ["blocked"]
    monkeypatch.setattr(pipeline.Pipeline, "_ensure", real_ensure)
    assert queue.ids == [absorb.state_for(customer).pk], "re-enqueued, not left for the sweep"
    assert [r.outcome for r in queue.drain()] == ["synced"]


def test_a_row_recorded_before_its_business_learns_it_and_can_still_be_voided(
    thredfi_fake, queue, committed
):
    with committed():
        invoice = make_invoice()
    state = absorb.state_for(invoice)
    SyncState.objects.filter(pk=state.pk).update(business=None)  # e.g. recorded by a backfill
    queue.drain()
    assert absorb.state_for(invoice).business == absorb.state_for(invoice.account)
    with committed():
        invoice.delete()
    assert [r.outcome for r in queue.drain()] == ["synced"]
    assert thredfi_fake.records("invoices")[0]["status"] == "voided"
