"""A host that archives customers and vendors in place (a soft delete) and restores them."""

from __future__ import annotations

import pytest
from django.core import checks

from tests.testapp.factories import make_customer, make_invoice, make_vendor
from tests.testapp.models import Customer, Vendor
from thredfi_django.admin.display import remote_summary
from thredfi_django.engine import absorb
from thredfi_django.engine.drain import sync_state
from thredfi_django.engine.plan import preview
from thredfi_django.engine.pull import pull
from thredfi_django.models import SyncState, SyncStatus

pytestmark = pytest.mark.django_db


def posts(fake, path_end: str) -> int:
    """How many POSTs reached an endpoint template ending in ``path_end``."""
    return sum(
        n
        for key, n in fake.stats.requests.items()
        if key.startswith("POST ") and key.endswith(path_end)
    )


def save_archived(obj, committed, archived: bool = True) -> None:
    obj.is_archived = archived
    with committed():
        obj.save()


def synced(make, queue, committed, *, archived: bool = False):
    """What ``make`` makes, pushed to Thredfi (and then archived there, with ``archived``)."""
    with committed():
        obj = make()
    queue.drain()
    if archived:
        save_archived(obj, committed)
        queue.drain()
    return obj


def remote(fake, resource: str, obj) -> dict:
    external_id = obj.get_thredfi_external_id()
    (record,) = [r for r in fake.records(resource) if r["external_id"] == external_id]
    return record


def retry_now(state_id: int):
    SyncState.objects.filter(pk=state_id).update(next_attempt_at=None)
    return sync_state(state_id)


def test_a_customer_archived_in_the_host_is_archived_in_thredfi_and_unarchived_when_restored(
    thredfi_fake, queue, committed
):
    customer = synced(make_customer, queue, committed)

    save_archived(customer, committed)
    assert [r.outcome for r in queue.drain()] == ["synced"]
    customer.refresh_from_db()
    assert remote(thredfi_fake, "customers", customer)["is_archived"] is True
    state = absorb.state_for(customer)
    assert (state.status, state.remote_status) == (SyncStatus.SYNCED, "archived")
    assert "<strong>archived</strong>" in remote_summary(state), "the admin says so"
    assert Customer.objects.filter(pk=customer.pk).exists(), "the host keeps its row"

    save_archived(customer, committed, archived=False)
    (result,) = queue.drain()
    assert (result.outcome, result.requests) == ("synced", 1)
    record = remote(thredfi_fake, "customers", customer)
    assert (record["is_archived"], record["status"]) == (False, "active")
    assert absorb.state_for(customer).remote_status == "active"


def test_a_vendor_archived_in_the_host_is_archived_in_thredfi_and_unarchived_when_restored(
    thredfi_fake, queue, committed
):
    vendor = synced(make_vendor, queue, committed)

    save_archived(vendor, committed)
    assert [r.outcome for r in queue.drain()] == ["synced"]
    vendor.refresh_from_db()
    assert remote(thredfi_fake, "vendors", vendor)["status"] == "ARCHIVED"

    save_archived(vendor, committed, archived=False)
    assert [r.outcome for r in queue.drain()] == ["synced"]
    assert remote(thredfi_fake, "vendors", vendor)["status"] == "ACTIVE"
    assert posts(thredfi_fake, "/archive/") == posts(thredfi_fake, "/unarchive/") == 1


def test_saves_of_an_archived_customer_send_nothing_more(thredfi_fake, queue, committed):
    customer = synced(make_customer, queue, committed, archived=True)
    before = thredfi_fake.stats.total_requests

    for name in ("Renamed once", "Renamed twice"):
        customer.name = name
        with committed():
            customer.save()
        assert [r.outcome for r in queue.drain()] == ["skipped"]
    assert thredfi_fake.stats.total_requests == before
    assert absorb.state_for(customer).status == SyncStatus.SYNCED


def test_a_customer_never_archived_is_never_unarchived(thredfi_fake, queue, committed):
    customer = synced(make_customer, queue, committed)
    before = thredfi_fake.stats.total_requests

    save_archived(customer, committed, archived=False)
    assert [r.outcome for r in queue.drain()] == ["skipped"]
    assert thredfi_fake.stats.total_requests == before
    assert posts(thredfi_fake, "/unarchive/") == 0


def test_an_unarchive_whose_answer_was_lost_is_retried_and_ends_synced(
    thredfi_fake, queue, committed
):
    customer = synced(make_customer, queue, committed, archived=True)
    save_archived(customer, committed, archived=False)
    thredfi_fake.fail_next(1, status="drop", path_contains="/unarchive/")
    assert [r.outcome for r in queue.drain()] == ["retry"], "unarchived, but we never heard"
    assert remote(thredfi_fake, "customers", customer)["is_archived"] is False

    # Thredfi refuses to unarchive an active customer: the record says it is done.
    result = retry_now(absorb.state_for(customer).pk)
    assert (result.outcome, result.requests) == ("synced", 2)
    state = absorb.state_for(customer)
    assert (state.status, state.remote_status, state.last_error_kind) == ("synced", "active", "")


def test_an_archive_whose_answer_was_lost_is_undone_if_the_host_restores_the_customer_meanwhile(
    thredfi_fake, queue, committed
):
    customer = synced(make_customer, queue, committed)
    save_archived(customer, committed)
    thredfi_fake.fail_next(1, status="drop", path_contains="/archive/")
    assert [r.outcome for r in queue.drain()] == ["retry"]
    assert remote(thredfi_fake, "customers", customer)["is_archived"] is True

    save_archived(customer, committed, archived=False)
    assert retry_now(absorb.state_for(customer).pk).outcome == "synced"
    assert remote(thredfi_fake, "customers", customer)["is_archived"] is False


def test_an_archive_refused_because_it_was_already_done_counts_as_done(
    thredfi_fake, queue, committed
):
    vendor = synced(make_vendor, queue, committed)
    save_archived(vendor, committed)
    thredfi_fake.fail_next(1, status="drop", path_contains="/archive/")
    queue.drain()
    # A Thredfi that answers the repeated archive with a conflict:
    thredfi_fake.fail_next(1, status=409, path_contains="/archive/")

    assert retry_now(absorb.state_for(vendor).pk).outcome == "synced"
    assert absorb.state_for(vendor).remote_status == "archived"


def test_an_unarchive_refused_for_a_record_still_archived_needs_attention(
    thredfi_fake, queue, committed
):
    customer = synced(make_customer, queue, committed, archived=True)
    save_archived(customer, committed, archived=False)
    thredfi_fake.fail_next(1, status=400, path_contains="/unarchive/")

    (result,) = queue.drain()
    assert result.outcome == "needs_attention"
    assert remote(thredfi_fake, "customers", customer)["is_archived"] is True


def test_a_customer_archived_before_its_first_push_is_created_then_archived(
    thredfi_fake, queue, committed
):
    with committed():
        invoice = make_invoice(customer=make_customer(is_archived=True))
    queue.drain()

    customer = Customer.objects.get()
    record = remote(thredfi_fake, "customers", customer)
    assert record["is_archived"] is True, "old invoices still name it"
    assert remote(thredfi_fake, "invoices", invoice)["customer"]["id"] == record["id"]
    assert absorb.state_for(customer).remote_status == "archived"


def test_deleting_a_customer_already_archived_sends_nothing(thredfi_fake, queue, committed):
    customer = synced(make_customer, queue, committed, archived=True)
    before = thredfi_fake.stats.total_requests

    with committed():
        customer.delete()
    assert [r.outcome for r in queue.drain()] == ["skipped"]
    assert thredfi_fake.stats.total_requests == before


def test_a_dry_run_and_a_preview_say_archive_and_unarchive(thredfi_fake, queue, committed):
    customer = synced(make_customer, queue, committed)
    customer.refresh_from_db()
    state_id = absorb.state_for(customer).pk

    customer.is_archived = True
    assert preview(customer)["action"] == "archive"
    save_archived(customer, committed)
    absorb.absorb(10)
    request = sync_state(state_id, dry_run=True).request
    assert (request["action"], request["method"]) == ("archive", "POST")
    assert request["path"].endswith(f"/customers/{customer.thredfi_id}/archive/")
    queue.drain()

    save_archived(customer, committed, archived=False)
    absorb.absorb(10)
    assert sync_state(state_id, dry_run=True).request["action"] == "unarchive"
    assert preview(customer)["action"] == "unarchive"


def test_a_misspelt_archived_field_is_a_system_check_error(monkeypatch):
    monkeypatch.setattr(Vendor, "thredfi_archived_field", "is_archivd")
    errors = [e for e in Vendor.check() if e.id == "thredfi_django.E030"]
    assert len(errors) == 1
    assert "is_archivd" in errors[0].msg
    assert isinstance(errors[0], checks.Error)


def test_the_archived_flag_stays_put_after_a_later_pull_of_other_resources(
    thredfi_fake, queue, committed
):
    """The pull reads invoices, payments, bills and credits: a customer's remote_status is ours."""
    customer = synced(make_customer, queue, committed, archived=True)
    pull(full=True)
    assert absorb.state_for(customer).remote_status == "archived"
