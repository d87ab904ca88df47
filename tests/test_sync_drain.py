"""Drains: one worker wakes up, claims what is due in batches and pushes each batch together.

The rows are the queue; a Celery message only says "come and look". These stories run the
drain the way the ``drain_pending`` task does (plain function calls, in this process).
"""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection
from django.db.models import F
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from tests.testapp.factories import make_account, make_customer, make_invoice, make_payment
from tests.testapp.models import Customer, Invoice
from thredfi_django.engine import absorb, leases, outcomes, send
from thredfi_django.engine.drain import drain
from thredfi_django.engine.pipeline import Pipeline
from thredfi_django.models import SyncAttempt, SyncState, SyncStatus
from thredfi_django.recording import changes, resync, wake

pytestmark = pytest.mark.django_db

ONE_THREAD = {"DRAIN_HTTP_CONCURRENCY": 1}


def thredfi(**extra):
    from django.conf import settings

    return override_settings(THREDFI={**settings.THREDFI, **extra})


def statuses() -> dict[str, int]:
    counts: dict[str, int] = {}
    for status in SyncState.objects.values_list("status", flat=True):
        counts[status] = counts.get(status, 0) + 1
    return counts


def test_a_whole_platform_saved_at_once_is_pushed_dependencies_first_in_one_drain(
    thredfi_fake, published
):
    account = make_account()
    customers = [make_customer(account) for _ in range(3)]
    invoices = [make_invoice(c) for c in customers for _ in range(2)]
    make_payment(invoices[0])

    handled = drain(worker="w")

    assert handled == 1 + 3 + 6 + 1
    assert statuses() == {SyncStatus.SYNCED: 11}
    assert thredfi_fake.count_by_external_id("invoices") == {
        i.get_thredfi_external_id(): 1 for i in invoices
    }
    # Nothing waited on anything: every object cost exactly its own request (plus tokens and
    # one read of the business's chart of accounts for the invoice lines).
    assert not SyncAttempt.objects.exclude(outcome=SyncAttempt.Outcome.SUCCESS).exists()
    assert thredfi_fake.stats.total_requests == 11 + 2 + 1
    for invoice in Invoice.objects.all():
        assert invoice.thredfi_id is not None


def test_the_queries_of_a_drain_do_not_grow_with_the_batch(thredfi_fake, published):
    account = make_account()
    customer = make_customer(account)
    drain(worker="w")  # the account and customer

    def queries_to_drain(n: int) -> int:
        for _ in range(n):
            make_invoice(customer)
        with CaptureQueriesContext(connection) as ctx:
            assert drain(worker="w") == n
        return len(ctx.captured_queries)

    # executemany counts as one captured statement: what grows with n is rows, not round trips
    # of the ORM (PostgreSQL pipelines the per-row UPDATEs of an executemany).
    assert queries_to_drain(2) == queries_to_drain(20)


def test_a_row_saved_again_during_its_push_is_pushed_once_more(
    thredfi_fake, published, monkeypatch
):
    invoice = make_invoice()
    drain(worker="w")
    state = absorb.state_for(invoice)
    real_record = outcomes.record

    def host_saves_before_the_answer_is_recorded(done, worker):
        # The request has gone out and been answered (on the push threads); the host's save
        # lands before the worker writes down the outcome.
        Invoice.objects.filter(pk=invoice.pk).update(memo="changed meanwhile")
        changes.mark_dirty(Invoice.objects.get(pk=invoice.pk), schedule=False)
        return real_record(done, worker)

    resync.request_sync([state], enqueue_tasks=False)
    monkeypatch.setattr(outcomes, "record", host_saves_before_the_answer_is_recorded)
    with thredfi(**ONE_THREAD):
        drain(worker="w", time_limit=0)  # one batch: the push, then the save is still pending

    state.refresh_from_db()
    assert state.status == SyncStatus.PENDING
    assert state.synced_version < state.version
    monkeypatch.setattr(outcomes, "record", real_record)
    drain(worker="w")
    state.refresh_from_db()
    assert state.status == SyncStatus.SYNCED and state.synced_version == state.version
    (remote,) = thredfi_fake.records("invoices")
    assert remote["memo"] == "changed meanwhile"


def test_failures_in_a_batch_are_recorded_per_row_and_the_rest_still_syncs(
    thredfi_fake, published, caplog
):
    customer = make_customer()
    drain(worker="w")
    invoices = [make_invoice(customer) for _ in range(4)]
    thredfi_fake.fail_next(1, status=503, path_contains="/invoices/")
    thredfi_fake.fail_next(1, status=422, path_contains="/invoices/")

    with thredfi(**ONE_THREAD), caplog.at_level("INFO", logger="thredfi_django.sync"):
        drain(worker="w")

    # One line says what the drain did, by outcome.
    summary = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Drain")]
    assert summary == ["Drain handled 4 Thredfi row(s): needs_attention 1, retry 1, synced 2."]

    by_status = statuses()
    assert by_status[SyncStatus.SYNCED] == 2 + 2  # account, customer and two invoices
    assert by_status[SyncStatus.PENDING] == 1  # the 503: retried after a backoff
    assert by_status[SyncStatus.NEEDS_ATTENTION] == 1  # the 422
    retry = SyncState.objects.get(status=SyncStatus.PENDING)
    assert retry.attempts == 1 and retry.next_attempt_at is not None
    assert retry.last_error_status == 503
    assert SyncAttempt.objects.filter(state__resource="invoice").count() == len(invoices)


def test_a_row_whose_lease_was_taken_over_meanwhile_is_not_marked_synced_by_us(
    thredfi_fake, published, monkeypatch
):
    invoice = make_invoice()
    real_record = outcomes.record

    def lease_taken_over_before_the_answer_is_recorded(done, worker):
        SyncState.objects.filter(resource="invoice").update(lease_owner="another-worker/1")
        return real_record(done, worker)

    monkeypatch.setattr(outcomes, "record", lease_taken_over_before_the_answer_is_recorded)
    with thredfi(**ONE_THREAD):
        drain(worker="w", time_limit=0)

    state = absorb.state_for(invoice)
    assert state.status == SyncStatus.IN_PROGRESS and state.lease_owner == "another-worker/1"
    (remote,) = thredfi_fake.records("invoices")
    assert str(state.remote_id) == remote["id"], "the remote id is kept for the other worker"


def test_the_next_batch_is_claimed_while_the_requests_of_the_last_are_in_flight(
    thredfi_fake, published, monkeypatch
):
    customer = make_customer()
    drain(worker="w")
    for _ in range(4):
        make_invoice(customer)
    real_execute, real_claim = send.execute, leases.claim
    claims: list[int] = []
    next_batch_claimed = threading.Event()
    claimed_while_in_flight: list[bool] = []

    def claim(*args, **kwargs):
        claimed = real_claim(*args, **kwargs)
        claims.append(len(claimed))
        if len(claims) == 2:
            next_batch_claimed.set()
        return claimed

    def slow_first_request(client, call):
        # On a push thread: the first request holds on until the worker has claimed batch 2.
        if not claimed_while_in_flight:
            claimed_while_in_flight.append(next_batch_claimed.wait(timeout=5))
        return real_execute(client, call)

    monkeypatch.setattr(leases, "claim", claim)
    monkeypatch.setattr(send, "execute", slow_first_request)
    with thredfi(DRAIN_BATCH=2, **ONE_THREAD):
        assert drain(worker="w") == 4

    assert claimed_while_in_flight == [True]
    assert claims == [2, 2, 0, 0], "it looks once more after recording its last wave"
    assert statuses() == {SyncStatus.SYNCED: 1 + 1 + 4}
    assert thredfi_fake.stats.total_requests == 2 + 4 + 2 + 1  # setup, invoices, tokens, chart


def test_an_error_while_requests_are_in_flight_still_records_them(
    thredfi_fake, published, monkeypatch
):
    customer = make_customer()
    drain(worker="w")
    invoices = [make_invoice(customer) for _ in range(2)]
    real_claim = leases.claim
    calls: list[int] = []

    def claim_then_lose_the_database(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("database went away")
        return real_claim(*args, **kwargs)

    monkeypatch.setattr(leases, "claim", claim_then_lose_the_database)
    with thredfi(DRAIN_BATCH=2), pytest.raises(RuntimeError, match="database went away"):
        drain(worker="w")

    # The batch whose requests had gone out is recorded all the same: nothing waits for a
    # lease to expire, nothing is pushed twice.
    for invoice in invoices:
        assert absorb.state_for(invoice).status == SyncStatus.SYNCED
    assert thredfi_fake.count_by_external_id("invoices") == {
        i.get_thredfi_external_id(): 1 for i in invoices
    }


def test_a_save_committed_while_the_last_request_is_in_flight_is_pushed_by_the_same_drain(
    thredfi_fake, published, monkeypatch
):
    customer = make_customer()
    drain(worker="w")
    make_invoice(customer)
    real_execute, real_settle = send.execute, Pipeline.settle
    saved = threading.Event()
    late: list[Invoice] = []

    def answer_once_the_host_has_saved_again(client, call):
        saved.wait(timeout=5)
        return real_execute(client, call)

    def settle(pipeline):
        if not late:  # the worker waits for its wave in flight; the host saves meanwhile
            late.append(make_invoice(customer))
            saved.set()
        real_settle(pipeline)

    monkeypatch.setattr(send, "execute", answer_once_the_host_has_saved_again)
    monkeypatch.setattr(Pipeline, "settle", settle)
    assert drain(worker="w") == 2, "the late save is not left for the next drain task"
    assert absorb.state_for(late[0]).status == SyncStatus.SYNCED


def test_a_drain_loads_each_saved_invoice_once(thredfi_fake, published):
    customer = make_customer()
    drain(worker="w")
    for _ in range(5):
        make_invoice(customer)

    with CaptureQueriesContext(connection) as ctx:
        assert drain(worker="w") == 5

    # The absorb loads them to record them; the push reuses those objects (and only
    # prefetches their lines) instead of reading the same rows again.
    full_loads = [q["sql"] for q in ctx.captured_queries if '"testapp_invoice"."memo"' in q["sql"]]
    assert len(full_loads) == 1, full_loads
    assert statuses() == {SyncStatus.SYNCED: 1 + 1 + 5}


def test_each_push_of_a_drain_leaves_an_attempt_row_saying_what_was_done(thredfi_fake, published):
    customer = make_customer()
    drain(worker="w")
    invoice = make_invoice(customer)
    drain(worker="drain-7")

    (attempt,) = absorb.state_for(invoice).attempt_history.all()
    assert attempt.outcome == SyncAttempt.Outcome.SUCCESS
    assert (attempt.operation, attempt.version, attempt.worker) == ("create", 1, "drain-7")
    assert attempt.finished_at >= attempt.started_at
    assert (attempt.http_status, attempt.error_kind, attempt.message) == (None, "", "")
    assert attempt.field_errors == {}


def test_claims_of_two_drains_never_overlap_and_respect_the_batch_size(published):
    customers = [make_customer() for _ in range(5)]
    assert len(customers) == 5
    absorb.absorb_all()  # saves mark their rows; a drain takes them in before claiming
    first = leases.claim("a", limit=4)
    second = leases.claim("b", limit=4)
    third = leases.claim("c", limit=4)
    assert len(first) == 4 and len(second) == 4 and len(third) == 2  # 5 accounts + 5 customers
    ids = [state.pk for _token, state in first + second + third]
    assert len(set(ids)) == 10
    assert {token for token, _ in first} != {token for token, _ in second}
    assert all(state.status == SyncStatus.IN_PROGRESS for _token, state in first)


def test_a_paused_model_is_left_for_later_by_the_drain(thredfi_fake, published):
    customer = make_customer()
    with thredfi(PAUSED_MODELS=["testapp.Customer"]):
        assert drain(worker="w") == 1  # the account only
    assert absorb.state_for(customer).status == SyncStatus.PENDING
    assert drain(worker="w") == 1
    assert absorb.state_for(customer).status == SyncStatus.SYNCED


def test_a_drain_that_runs_out_of_time_hands_over_to_a_new_drain_task(thredfi_fake, published):
    for _ in range(3):
        make_customer()
    with thredfi(DRAIN_BATCH=2):
        assert drain(worker="w", time_limit=0) == 2
    # The helper a full batch asks for may end before more falls due without a wake (a lease
    # runs out, a pause lifts): the hand-over is sent all the same.
    assert published == [None, None], "a helper, then a kick at the back of the queue"
    assert drain(worker="w") == 4


def test_a_drain_that_finds_more_than_a_batch_wakes_one_more_drain_for_an_idle_process(
    thredfi_fake, published
):
    for _ in range(3):
        make_customer()  # 6 rows: 3 accounts, 3 customers
    with thredfi(DRAIN_BATCH=2):
        drain(worker="w")
    assert statuses() == {SyncStatus.SYNCED: 6}
    assert published == [None], "one helper asked for at the first full batch, and only one"

    published.clear()
    make_customer()  # 2 rows: less than a batch more
    with thredfi(DRAIN_BATCH=3):
        drain(worker="w")
    assert statuses() == {SyncStatus.SYNCED: 8}
    assert published == [], "no helper for what one drain takes in one claim"


def test_saving_in_drain_mode_wakes_a_drain_instead_of_sending_a_task_per_row(
    published, committed, monkeypatch
):
    wake._coalescer.forget_last()
    with committed():
        make_customer()
    assert published == [None], "one drain kick, no per-row task"


def test_kicks_are_coalesced_and_the_last_request_is_never_left_waiting(published, monkeypatch):
    wake._coalescer.forget_last()
    with thredfi(DRAIN_KICK="inline", DRAIN_KICK_INTERVAL=0.2):
        for _ in range(50):
            wake.wake()
        assert published == [None], "the first publishes at once, the others wait"
        deadline = time.monotonic() + 5
        while len(published) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert published == [None, None], "one trailing kick for the 49 that waited"


def test_the_background_kicker_publishes_from_its_own_thread(published, monkeypatch):
    threads: list[str] = []
    monkeypatch.setattr(
        wake,
        "send_task",
        lambda name, args=(), countdown=None: threads.append(threading.current_thread().name),
    )
    with thredfi(DRAIN_KICK="background", DRAIN_KICK_INTERVAL=0.01):
        wake.wake()
        deadline = time.monotonic() + 5
        while not threads and time.monotonic() < deadline:
            time.sleep(0.01)
    assert threads == ["thredfi-drain-kick"]


def test_retries_wake_a_drain_after_their_backoff(published):
    wake.wake(countdown=7.5)
    assert published == [7.5]


def test_saving_a_customer_does_not_touch_anything_else_in_the_batch(thredfi_fake, published):
    customers = [make_customer() for _ in range(3)]
    drain(worker="w")
    Customer.objects.filter(pk=customers[0].pk).update(name="Renamed")
    SyncState.objects.filter(object_id=str(customers[0].pk), resource="customer").update(
        version=F("version") + 1, status=SyncStatus.PENDING
    )
    before = thredfi_fake.stats.total_requests
    assert drain(worker="w") == 1
    # Customers have no update endpoint: skipped (synced), no request.
    assert thredfi_fake.stats.total_requests == before
    assert statuses() == {SyncStatus.SYNCED: 6}
