"""When Thredfi (or the network, or the data) says no: retries, no duplicates, clear states."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.test import override_settings
from django.utils import timezone

from tests.testapp.factories import (
    make_account,
    make_bill,
    make_customer,
    make_invoice,
    make_payment,
    make_refund,
    make_vendor,
)
from tests.testapp.models import Account, Customer
from thredfi_django.engine import absorb, pauses
from thredfi_django.engine.drain import sync_state
from thredfi_django.exceptions import ThredfiLocalValidationError
from thredfi_django.models import SyncAttempt, SyncState, SyncStatus
from thredfi_django.redaction import redact

pytestmark = pytest.mark.django_db

BASE = {
    "PARTNER_UUID": "0b7e4d3a-5f7c-4c1e-9a51-2f7d3c1b9e10",
    "API_KEY": "test-api-key-not-secret",
}


def synced_dependencies_of(obj, queue):
    """Push everything queued except ``obj`` itself, so ``obj``'s push is the only request."""
    own = absorb.state_for(obj).pk
    queue.ids[:] = [i for i in queue.ids if i != own]
    queue.drain()
    queue.ids[:] = [own]
    return own


def test_a_lost_response_is_retried_and_adopts_the_record_without_a_duplicate(
    thredfi_fake, queue, committed
):
    with committed():
        invoice = make_invoice()
    state_id = synced_dependencies_of(invoice, queue)
    thredfi_fake.fail_next(1, status="drop", path_contains="/invoices/")

    (first,) = queue.drain()
    assert first.outcome == "retry", "the create was applied, but we never heard back"
    assert thredfi_fake.count_by_external_id("invoices") == {invoice.get_thredfi_external_id(): 1}

    SyncState.objects.filter(pk=state_id).update(next_attempt_at=timezone.now())
    (second,) = [sync_state(state_id, worker="w")]
    assert second.outcome == "synced"
    assert thredfi_fake.count_by_external_id("invoices") == {invoice.get_thredfi_external_id(): 1}
    (remote,) = thredfi_fake.records("invoices")
    invoice.refresh_from_db()
    assert str(invoice.thredfi_id) == remote["id"]


def test_an_adopted_record_whose_update_failed_is_updated_not_created_again(
    thredfi_fake, queue, committed
):
    with committed():
        invoice = make_invoice()
    state_id = synced_dependencies_of(invoice, queue)
    thredfi_fake.fail_next(1, status="drop", path_contains="/invoices/")
    assert queue.drain()[0].outcome == "retry", "created, but the answer was lost"
    (remote,) = thredfi_fake.records("invoices")

    # The invoice changes meanwhile: the retry adopts the record and must update it, and
    # that update hits a 503.
    invoice.memo = "changed while the answer was lost"
    with committed():
        invoice.save()
    queue.clear()
    thredfi_fake.fail_next(1, status=503, path_contains=f"/invoices/{remote['id']}")
    SyncState.objects.filter(pk=state_id).update(next_attempt_at=timezone.now())
    assert sync_state(state_id, worker="w").outcome == "retry"
    assert str(SyncState.objects.get(pk=state_id).remote_id) == remote["id"], "id kept"
    invoice.refresh_from_db()
    assert str(invoice.thredfi_id) == remote["id"]

    creates = "POST /v1/platform/businesses/{business_id}/invoices/"
    before = thredfi_fake.stats.requests[creates]
    SyncState.objects.filter(pk=state_id).update(next_attempt_at=timezone.now())
    assert sync_state(state_id, worker="w").outcome == "synced"
    assert thredfi_fake.stats.requests[creates] == before, "the third attempt is one update"
    assert thredfi_fake.count_by_external_id("invoices") == {invoice.get_thredfi_external_id(): 1}


def test_a_lost_payment_response_reuses_the_same_idempotency_key(thredfi_fake, queue, committed):
    with committed():
        payment = make_payment(make_invoice())
    state_id = synced_dependencies_of(payment, queue)
    thredfi_fake.fail_next(1, status="drop", path_contains="/payments/")
    assert queue.drain()[0].outcome == "retry"
    SyncState.objects.filter(pk=state_id).update(next_attempt_at=None)
    assert sync_state(state_id).outcome == "synced"
    assert thredfi_fake.count_by_external_id("payments") == {payment.get_thredfi_external_id(): 1}
    (remote,) = thredfi_fake.records("payments")
    assert remote["idempotency_key"] == payment.get_thredfi_external_id()


def test_a_create_retried_after_a_lost_answer_looks_the_record_up_first_and_adopts_it(
    thredfi_fake, queue, committed
):
    thredfi_fake.duplicate_mode = "409"
    with committed():
        customer = make_customer()
    state_id = synced_dependencies_of(customer, queue)
    thredfi_fake.fail_next(1, status="drop", path_contains="/customers/")
    assert queue.drain()[0].outcome == "retry"
    SyncState.objects.filter(pk=state_id).update(next_attempt_at=None)

    result = sync_state(state_id)
    assert result.outcome == "synced"
    assert result.requests == 1, "the lookup by external_id found it: no second create"
    (remote,) = thredfi_fake.records("customers")
    assert str(Customer.objects.get().thredfi_id) == remote["id"]


def test_a_429_pauses_its_business_for_every_worker_as_long_as_retry_after_says(
    thredfi_fake, queue, committed
):
    with committed():
        account = make_account()
    state_id = absorb.state_for(account).pk
    thredfi_fake.fail_next(1, status=429, retry_after=30)
    before = timezone.now()
    (result,) = queue.drain()
    assert result.outcome == "paused"
    state = SyncState.objects.get(pk=state_id)
    assert state.status == SyncStatus.PENDING
    assert (state.last_error_status, state.last_error_kind, state.attempts) == (
        429,
        "rate_limited",
        0,  # not this row's fault: no attempt counted towards MAX_ATTEMPTS
    )
    wait = (state.next_attempt_at - before).total_seconds()
    assert 29 <= wait <= 31
    assert queue.countdowns == {state_id: 30.0}, "a countdown task is published for the retry"
    (scope,) = pauses.all_pauses()
    assert scope == pauses.business_scope(state_id), "every worker leaves the business alone"
    assert sync_state(state_id).outcome == "paused", "not before Retry-After has passed"


def test_server_errors_back_off_exponentially_then_fail(thredfi_fake, queue, committed):
    settings = {**BASE, "MAX_ATTEMPTS": 3, "BACKOFF_BASE": 10.0}
    with override_settings(THREDFI=settings):
        with committed():
            account = make_account()
        state_id = absorb.state_for(account).pk
        thredfi_fake.fail_next(3, status=503)
        waits = []
        for _ in range(3):
            queue.ids[:] = [state_id]
            start = timezone.now()
            (result,) = queue.drain()
            state = SyncState.objects.get(pk=state_id)
            if state.next_attempt_at:
                waits.append((state.next_attempt_at - start).total_seconds())
                SyncState.objects.filter(pk=state_id).update(next_attempt_at=None)
    assert 5 <= waits[0] <= 10.5 and 10 <= waits[1] <= 20.5, waits
    assert result.outcome == "failed"
    assert (state.status, state.attempts, state.last_error_status) == (SyncStatus.FAILED, 3, 503)
    assert state.attempt_history.filter(outcome="transient_error").count() == 3


def test_a_permanent_400_stops_at_once_with_the_servers_field_errors(
    thredfi_fake, queue, committed
):
    with committed():
        account = make_account(email="books.acme.example")  # the server checks e-mail syntax
    (result,) = queue.drain()
    assert result.outcome == "needs_attention"
    state = absorb.state_for(account)
    assert (state.status, state.last_error_status, state.attempts) == (
        SyncStatus.NEEDS_ATTENTION,
        400,
        1,
    )
    assert list(state.last_error_fields) == ["email"]
    assert state.next_attempt_at is None
    assert state.attempt_history.get().field_errors == state.last_error_fields
    assert thredfi_fake.count_by_external_id("businesses") == {}


def test_dependents_of_a_failed_business_are_blocked_and_woken_when_it_is_fixed(
    thredfi_fake, queue, committed
):
    with committed():
        invoice = make_invoice(customer=make_customer(make_account(entity_type="gmbh")))
    results = queue.drain()
    assert [r.outcome for r in results] == ["needs_attention", "blocked", "blocked"]
    business = absorb.state_for(invoice.account)
    blocked = absorb.state_for(invoice)
    assert (blocked.status, blocked.blocked_on_id) == (SyncStatus.BLOCKED, business.pk)
    assert "Waiting for business" in blocked.last_error_message

    account = Account.objects.get()
    account.entity_type = "limited"
    with committed():
        account.save()
    results = queue.drain()
    assert {r.outcome for r in results} == {"synced"}
    assert SyncState.objects.exclude(status=SyncStatus.SYNCED).count() == 0
    assert len(thredfi_fake.records("invoices")) == 1


def test_bad_local_data_is_refused_without_any_http_and_other_objects_go_ahead(
    thredfi_fake, queue, committed
):
    with committed():
        bad = make_invoice(lines=[(Decimal("0"), Decimal("10.005"))], currency="EUR")
    own = absorb.state_for(bad).pk
    queue.ids[:] = [own]
    (result,) = queue.drain()
    assert result.outcome == "needs_attention"
    assert thredfi_fake.stats.total_requests == 0, "not even a token was fetched"
    state = SyncState.objects.get(pk=own)
    assert set(state.last_error_fields) == {
        "line_items[0].quantity",
        "line_items[0].unit_price",
        "currency",
    }
    assert state.last_error_kind == "local_validation"
    queue.ids[:] = list(SyncState.objects.exclude(pk=own).values_list("pk", flat=True))
    assert {r.outcome for r in queue.drain()} == {"synced"}


def test_attempt_history_is_capped(thredfi_fake, queue, committed):
    with override_settings(THREDFI={**BASE, "ATTEMPT_HISTORY": 3}):
        with committed():
            account = make_account()
        state_id = absorb.state_for(account).pk
        thredfi_fake.fail_next(5, status=500)
        for _ in range(5):
            SyncState.objects.filter(pk=state_id).update(next_attempt_at=None)
            sync_state(state_id)
    assert SyncAttempt.objects.filter(state_id=state_id).count() == 3


def test_the_history_is_trimmed_only_by_a_push_that_takes_it_over_the_cap(
    thredfi_fake, queue, committed
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with override_settings(THREDFI={**BASE, "ATTEMPT_HISTORY": 3}):
        with committed():
            account = make_account()
        state_id = absorb.state_for(account).pk
        thredfi_fake.fail_next(5, status=500)
        deletes, kept = [], []
        for _ in range(5):
            SyncState.objects.filter(pk=state_id).update(next_attempt_at=None)
            with CaptureQueriesContext(connection) as ctx:
                sync_state(state_id)
            deletes.append(sum(q["sql"].startswith("DELETE") for q in ctx.captured_queries))
            kept.append(SyncAttempt.objects.filter(state_id=state_id).count())
    assert deletes == [0, 0, 0, 1, 1], "no DELETE while the history is under the cap"
    assert kept == [1, 2, 3, 3, 3]


def test_errors_are_stored_without_credentials():
    text = redact(
        'Authorization: Bearer eyJhbGciOi.abc.def failed; {"access_token": "tok123"} '
        "key test-api-key-not-secret"
    )
    assert "eyJhbGciOi" not in text and "tok123" not in text
    assert "test-api-key-not-secret" not in text
    assert "[redacted]" in text


def test_a_save_that_fixes_a_problem_during_backoff_is_not_lost(thredfi_fake, queue, committed):
    with committed():
        account = make_account()
    state_id = absorb.state_for(account).pk
    thredfi_fake.fail_next(1, status=500)
    queue.drain()
    with committed():
        account.legal_name = "Renamed Ltd"
        account.save()
    # The save's own task is early (backoff), the countdown task is on time.
    assert sync_state(state_id).outcome == "not_claimed"
    SyncState.objects.filter(pk=state_id).update(next_attempt_at=timezone.now() - dt.timedelta(1))
    assert sync_state(state_id).outcome == "synced"
    assert thredfi_fake.records("businesses")[0]["legal_name"] == "Renamed Ltd"


def test_a_bug_in_a_host_hook_needs_attention_and_does_not_stop_the_worker(
    thredfi_fake, queue, committed, monkeypatch
):
    def broken(self):
        raise KeyError("vip_level")

    monkeypatch.setattr(Customer, "get_thredfi_notes", broken, raising=False)
    with committed():
        customer = make_customer()
    results = queue.drain()
    assert [r.outcome for r in results] == ["synced", "needs_attention"]
    state = absorb.state_for(customer)
    assert (state.status, state.last_error_kind) == (SyncStatus.NEEDS_ATTENTION, "error")
    assert "KeyError" in state.last_error_message and "vip_level" in state.last_error_message


@pytest.mark.parametrize(
    "resource, make",
    [
        ("vendors", lambda: make_vendor()),
        ("bills", lambda: make_bill()),
        ("refunds", lambda: make_refund(make_invoice(), Decimal("10.00"))),
    ],
)
def test_a_lost_answer_on_a_resource_without_idempotency_never_makes_a_second_record(
    thredfi_fake, queue, committed, resource, make
):
    """These resources have no Idempotency-Key, and the docs do not promise that a repeated
    external_id answers with the existing record: here it makes a second one. The retry looks
    the record up by external_id first, so there is still only one."""
    thredfi_fake.duplicate_mode = "duplicate"
    with committed():
        obj = make()
    thredfi_fake.fail_next(1, status="drop", path_contains=f"/{resource}/")
    queue.drain()
    state = absorb.state_for(obj)
    assert (state.status, state.attempts, state.remote_id) == (SyncStatus.PENDING, 1, None)
    assert thredfi_fake.count_by_external_id(resource) == {obj.get_thredfi_external_id(): 1}
    SyncState.objects.filter(pk=state.pk).update(next_attempt_at=None)

    assert sync_state(state.pk).outcome == "synced"
    assert thredfi_fake.count_by_external_id(resource) == {obj.get_thredfi_external_id(): 1}


def test_an_adopted_record_that_matches_is_not_updated_and_one_that_differs_is(
    thredfi_fake, queue, committed
):
    """A create whose answer was lost is adopted by external_id on the retry; a PUT follows
    only when the host object changed in between."""
    with committed():
        invoices = [make_invoice(), make_invoice()]
    thredfi_fake.fail_next(2, status="drop", path_contains="/invoices/")
    queue.drain()
    changed = invoices[1]
    changed.memo = "changed while the answer was lost"
    with committed():
        changed.save()
    for invoice in invoices:
        SyncState.objects.filter(pk=absorb.state_for(invoice).pk).update(next_attempt_at=None)
        assert sync_state(absorb.state_for(invoice).pk).outcome == "synced"
    puts = {k: n for k, n in thredfi_fake.stats.requests.items() if k.startswith("PUT ")}
    assert sum(puts.values()) == 1, "only the changed invoice is updated"
    remote = {r["external_id"]: r for r in thredfi_fake.records("invoices")}
    assert remote[changed.get_thredfi_external_id()]["memo"] == "changed while the answer was lost"


def test_a_lost_create_followed_by_a_validation_error_is_still_looked_up_once_fixed(
    thredfi_fake, queue, committed, monkeypatch
):
    """The doubt a lost answer leaves is not cleared by a later error of another kind."""
    thredfi_fake.duplicate_mode = "duplicate"
    with committed():
        vendor = make_vendor()
    thredfi_fake.fail_next(1, status="drop", path_contains="/vendors/")
    queue.drain()
    state = absorb.state_for(vendor)
    assert state.status == SyncStatus.PENDING and state.remote_id is None

    def refuse(self):  # the host's own validation refuses it for a while
        raise ThredfiLocalValidationError("Fix the vendor first.", {"name": ["Bad name."]})

    monkeypatch.setattr(type(vendor), "validate_for_thredfi", refuse)
    SyncState.objects.filter(pk=state.pk).update(next_attempt_at=None)
    assert sync_state(state.pk).outcome == "needs_attention"
    monkeypatch.undo()

    vendor.name = "Fixed Ltd"
    with committed():
        vendor.save()
    assert sync_state(absorb.state_for(vendor).pk).outcome == "synced"
    assert thredfi_fake.count_by_external_id("vendors") == {vendor.get_thredfi_external_id(): 1}


def test_deleting_an_object_whose_create_answer_was_lost_removes_the_record_it_made(
    thredfi_fake, queue, committed
):
    with committed():
        invoice = make_invoice()
    thredfi_fake.fail_next(1, status="drop", path_contains="/invoices/")
    queue.drain()
    (remote,) = thredfi_fake.records("invoices")  # made, though we never heard of it
    state_id = absorb.state_for(invoice).pk
    with committed():
        invoice.delete()
    SyncState.objects.filter(pk=state_id).update(next_attempt_at=None)
    assert sync_state(state_id).outcome == "synced"
    (voided,) = thredfi_fake.records("invoices")
    assert voided["id"] == remote["id"] and voided["status"].lower() in ("void", "voided")
