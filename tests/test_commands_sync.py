"""`manage.py thredfi_sync`: choose objects, queue them (default), push inline (--now) or show
the requests (--dry-run)."""

import logging
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tests.testapp.factories import make_invoice
from tests.testapp.models import Customer, Invoice
from thredfi_django.engine import absorb
from thredfi_django.engine.absorb import state_for
from thredfi_django.engine.sweep import sweep
from thredfi_django.models import SyncState, SyncStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(committed):
    """Run the command; its request_sync commits (on_commit callbacks fire) as in production."""

    def run(*args):
        out = StringIO()
        with committed():
            call_command("thredfi_sync", *args, stdout=out)
        return out.getvalue()

    return run


def test_queues_everything_not_synced(run, queue):
    invoice = make_invoice()
    queue.clear()
    output = run()
    assert "Queued 3 object(s)" in output
    states = [state_for(o) for o in (invoice.account, invoice.customer, invoice)]
    assert sorted(queue.ids) == sorted(s.pk for s in states)


def test_synced_objects_are_left_alone_unless_asked(run, queue):
    invoice = make_invoice()
    absorb.absorb()  # as the drain its commit wakes would
    version = state_for(invoice).version
    SyncState.objects.update(status=SyncStatus.SYNCED, synced_version=version)
    queue.clear()
    assert "Nothing to sync" in run()
    assert queue.ids == []

    output = run("--status", "all", "--model", "testapp.Invoice")
    assert "Queued 1 object(s)" in output
    state = state_for(invoice)
    assert queue.ids == [state.pk]
    assert state.status == SyncStatus.PENDING and state.version == version + 1  # pushed again


def test_failed_objects_go_back_to_pending_with_attempts_reset(run, queue):
    invoice = make_invoice()
    SyncState.objects.filter(pk=state_for(invoice).pk).update(
        status=SyncStatus.NEEDS_ATTENTION, attempts=4
    )
    run("--status", "needs_attention")
    state = state_for(invoice)
    assert (state.status, state.attempts) == (SyncStatus.PENDING, 0)
    assert state.pk in queue.ids


def test_filter_by_model_and_ids(run, queue):
    first, second = make_invoice(), make_invoice()
    queue.clear()
    output = run("--model", "testapp.Invoice", "--ids", f"{second.pk}")
    assert "Queued 1 object(s)" in output
    assert queue.ids == [state_for(second).pk]
    assert state_for(first).pk not in queue.ids


def test_filter_by_business_external_id_or_local_id(run, queue):
    mine, other = make_invoice(), make_invoice()
    queue.clear()
    business = state_for(mine.account)
    run("--business", business.external_id)
    expected = {business.pk, state_for(mine.customer).pk, state_for(mine).pk}
    assert set(queue.ids) == expected
    assert state_for(other).pk not in queue.ids

    queue.clear()
    run("--business", str(mine.account.pk), "--model", "testapp.Invoice")
    assert queue.ids == [state_for(mine).pk]


def test_objects_never_recorded_are_recorded_and_queued(run, queue):
    invoice = make_invoice()
    # bulk_create sends no signals, so these customers have no sync state yet
    Customer.objects.bulk_create(
        [Customer(account=invoice.account, name=f"Imported {i}") for i in range(3)]
    )
    queue.clear()
    output = run("--model", "testapp.Customer")
    assert "Recorded 3 object(s) that were not tracked yet." in output
    assert "Queued 4 object(s) for the Celery worker (3 newly recorded)." in output
    states = SyncState.objects.filter(resource="customer")
    imported = states.exclude(pk=state_for(invoice.customer).pk)
    assert {s.business_id for s in imported} == {state_for(invoice.account).pk}
    assert {s.external_id for s in imported} == {
        c.get_thredfi_external_id() for c in Customer.objects.filter(name__startswith="Imported")
    }
    assert sorted(queue.ids) == sorted(states.values_list("pk", flat=True))  # once each
    # Rows as a save would have recorded them: label, status, version and timestamps.
    assert sorted(s.label for s in imported) == ["Imported 0", "Imported 1", "Imported 2"]
    assert {(s.status, s.version, s.synced_version, s.attempts) for s in imported} == {
        (SyncStatus.PENDING, 1, 0, 0)
    }
    assert all(s.created_at and s.updated_at and s.last_error_fields == {} for s in imported)


def test_an_existing_platform_is_recorded_in_dependency_order_and_pushed(run, thredfi_fake):
    from tests.testapp.models import Account

    account = Account.objects.bulk_create([Account(legal_name="Old Ltd", email="a@old.example")])[0]
    Customer.objects.bulk_create([Customer(account=account, name=f"Old {i}") for i in range(3)])
    output = run("--now")
    assert "Recorded 4 object(s)" in output and "Done: 4 synced." in output
    assert thredfi_fake.stats.requests["POST /v1/platform/businesses/"] == 1
    assert len(thredfi_fake.count_by_external_id("customers")) == 3


def test_bad_input_says_what_to_fix(run):
    with pytest.raises(CommandError, match="'testapp.Nope' is not a model synced.*testapp.Invoice"):
        run("--model", "testapp.Nope")
    with pytest.raises(CommandError, match="--ids needs exactly one --model"):
        run("--ids", "1")
    with pytest.raises(CommandError, match="No business matches 'acme'"):
        run("--business", "acme")


def test_progress_is_plain_lines_when_not_a_terminal(run, queue, monkeypatch):
    from thredfi_django.management.commands import thredfi_sync

    monkeypatch.setattr(thredfi_sync, "CHUNK", 2)
    for _ in range(4):
        make_invoice()
    output = run("--model", "testapp.Invoice")
    assert "queued 2/4 (50%)" in output and "queued 4/4 (100%)" in output
    assert "\r" not in output
    assert len(set(queue.ids)) == Invoice.objects.count()


def test_big_selections_are_made_due_in_bulk_and_handed_to_the_sweep(run, queue, monkeypatch):
    from thredfi_django.management.commands import thredfi_sync
    from thredfi_django.tasks import sweep_pending

    monkeypatch.setattr(thredfi_sync, "DIRECT_LIMIT", 2)
    sweeps = []
    monkeypatch.setattr(sweep_pending, "apply_async", lambda *a, **kw: sweeps.append(kw))
    invoice = make_invoice()
    SyncState.objects.filter(pk=state_for(invoice).pk).update(status=SyncStatus.FAILED, attempts=10)
    Customer.objects.bulk_create([Customer(account=invoice.account, name="Imported")])
    queue.clear()

    output = run()
    assert "Queued 4 object(s)" in output and "(1 newly recorded)" in output
    assert "the sweep" in output
    assert queue.ids == []  # no task per row...
    assert len(sweeps) == 1  # ...one sweep instead
    assert set(SyncState.objects.values_list("status", "attempts")) == {("pending", 0)}

    assert sweep() == 4  # every row is due now, the newly recorded one too
    assert len(queue.ids) == 4


def test_dry_run_shows_each_request_and_sends_nothing(run, queue, thredfi_fake):
    invoice = make_invoice()
    absorb.absorb()  # as the drain its commit wakes would
    before = list(SyncState.objects.values_list("pk", "status", "version", "attempts"))
    queue.clear()

    output = run("--dry-run")

    assert "POST /v1/platform/businesses/  # business" in output
    assert "POST /v1/platform/businesses/{business_id}/invoices/  # invoice" in output
    assert f'"external_id": "{invoice.get_thredfi_external_id()}"' in output
    assert '"invoice_number": "' + invoice.number + '"' in output
    assert "Dry run: 3 request(s) shown, nothing sent or changed." in output
    assert thredfi_fake.stats.total_requests == 0
    assert queue.ids == []
    assert list(SyncState.objects.values_list("pk", "status", "version", "attempts")) == before


def test_now_pushes_inline_without_a_worker(run, thredfi_fake):
    invoice = make_invoice()
    output = run("--now")
    assert "Done:" in output and "synced" in output
    invoice.refresh_from_db()
    assert invoice.thredfi_id is not None
    assert thredfi_fake.count_by_external_id("invoices") == {invoice.get_thredfi_external_id(): 1}
    assert set(SyncState.objects.values_list("status", flat=True)) == {SyncStatus.SYNCED}


def test_now_exits_non_zero_and_says_why_when_something_fails(committed, thredfi_fake):
    good = make_invoice()
    bad = make_invoice(lines=())  # Thredfi needs at least one line
    out = StringIO()
    with pytest.raises(CommandError, match="1 object.* could not be synced") as excinfo:
        with committed():
            call_command("thredfi_sync", "--now", "--model", "testapp.Invoice", stdout=out)
    assert excinfo.value.returncode == 1
    assert f"invoice #{bad.pk} 'Invoice {bad.number}': needs_attention" in out.getvalue()
    assert "line_items: Add at least one line item." in out.getvalue()
    assert state_for(good).status == SyncStatus.SYNCED
    assert state_for(bad).status == SyncStatus.NEEDS_ATTENTION
    assert thredfi_fake.count_by_external_id("invoices") == {good.get_thredfi_external_id(): 1}


def test_objects_named_by_id_are_taken_whatever_their_status(run, thredfi_fake):
    invoice = make_invoice()
    run("--now")
    invoice.account.refresh_from_db()
    requests_before = thredfi_fake.stats.total_requests
    output = run("--dry-run", "--model", "testapp.Invoice", "--ids", str(invoice.pk))
    assert f"PUT /v1/platform/businesses/{invoice.account.thredfi_id}/invoices/" in output
    assert thredfi_fake.stats.total_requests == requests_before


def test_a_large_dry_run_shows_a_few_requests_and_a_summary(run, thredfi_fake):
    invoice = make_invoice()
    Invoice.objects.bulk_create(
        [Invoice(account=invoice.account, customer=invoice.customer, number=f"BULK-{i:03}")
         for i in range(30)]
    )  # fmt: skip

    output = run("--dry-run")

    assert output.count("# invoice") + output.count("(not tracked yet)") == 3  # the sample
    assert "By model, operation and business:" in output
    summary = {
        tuple(line.split()[:2]): line.split()[-1]
        for line in output.splitlines()
        if line.startswith("  testapp.")
    }
    assert summary[("testapp.Invoice", "create")] == "31"
    assert summary[("testapp.Account", "create")] == "1"
    assert "30 of them would not be sent (local validation errors)" in output  # no lines
    assert "Dry run: 33 request(s) planned, the first 3 shown in full" in output
    assert len(output.splitlines()) < 120  # proportional: not a page per invoice
    assert thredfi_fake.stats.total_requests == 0

    assert run("--dry-run", "--limit", "1").count("POST /v1/") == 1
    full = run("--dry-run", "--full")
    assert full.count("POST /v1/") == 33
    assert "Dry run: 33 request(s) shown, nothing sent or changed." in full


def test_now_says_what_was_skipped_and_why_and_keeps_the_engine_quiet(run, thredfi_fake, caplog):
    invoice = make_invoice()
    run("--now")
    invoice.customer.name = "Renamed Ltd"
    invoice.customer.save()  # Thredfi has no update for customers: this save is skipped

    with caplog.at_level(logging.INFO, logger="thredfi_django"):
        output = run("--now")

    skipped = next(line for line in output.splitlines() if ": skipped: " in line)
    assert f"customer #{invoice.customer.pk} 'Renamed Ltd': skipped: " in skipped
    assert len(skipped.split(": skipped: ", 1)[1]) > 10  # the reason, in words
    assert "Done: 1 skipped." in output
    assert [r.getMessage() for r in caplog.records if r.name.startswith("thredfi_django")] == []


def test_now_lists_at_most_limit_failures_and_counts_the_rest(committed, thredfi_fake):
    for _ in range(4):
        make_invoice(lines=())  # Thredfi needs at least one line
    out = StringIO()
    with pytest.raises(CommandError, match="4 object.* could not be synced"):
        with committed():
            call_command("thredfi_sync", "--now", "--limit", "1", stdout=out)
    output = out.getvalue()
    assert output.count("✗ invoice #") == 1
    assert "… and 3 more not synced or skipped" in output
    assert "By model, outcome and business:" in output
    assert "Done: 4 needs_attention, 8 synced." in output
