"""A customer renamed after its first push: Thredfi has no customer update, so it keeps the old
name. Such a row must not read plain "synced": reconcile finds it, flags it, and the admin and
thredfi_status show the flag."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from tests.admin_fixtures import client_for, make_staff
from tests.testapp.factories import make_customer
from thredfi_django.engine.absorb import state_for
from thredfi_django.models import SyncAttempt, SyncState, SyncStatus

pytestmark = pytest.mark.django_db


def run(command, *args):
    out = StringIO()
    try:
        call_command(command, *args, stdout=out)
    except CommandError as err:
        return out.getvalue(), err
    return out.getvalue(), None


@pytest.fixture
def renamed(committed, thredfi_fake):
    """A customer pushed as 'Ann Old', then renamed 'Ann New' (the push skips the change)."""
    with committed():
        customer = make_customer(name="Ann Old")
    run("thredfi_sync", "--now")
    customer.name = "Ann New"
    with committed():
        customer.save()
    run("thredfi_sync", "--now")
    assert state_for(customer).status == SyncStatus.SYNCED
    (remote,) = thredfi_fake.records("customers")
    assert remote["individual_name"] == "Ann Old"
    return customer


def test_the_skipped_change_flags_the_row_at_once(renamed):
    assert state_for(renamed).remote_stale, "synced, but Thredfi keeps the old name"
    assert SyncAttempt.objects.filter(outcome="skipped").exists()


def test_reconcile_reports_the_outdated_details_and_fix_flags_the_row(renamed):
    SyncState.objects.update(remote_stale=False)  # as a row flagged before this release
    output, error = run("thredfi_reconcile")
    assert "outdated in Thredfi (individual_name: Thredfi 'Ann Old', here 'Ann New')" in output
    assert error is not None
    assert not state_for(renamed).remote_stale  # a report changes nothing

    output, error = run("thredfi_reconcile", "--fix")
    assert error is not None  # nothing here can rename it in Thredfi
    assert state_for(renamed).remote_stale


def test_the_flag_shows_in_thredfi_status_and_the_admin(renamed):
    run("thredfi_reconcile", "--fix")

    status, _ = run("thredfi_status")
    assert "1 testapp.Customer object(s) outdated in Thredfi" in status

    user = make_staff("viewer", "thredfi_django.view_syncstate")
    changelist = client_for(user).get(
        reverse("admin:thredfi_django_syncstate_changelist"), {"outdated": "yes"}
    )
    html = changelist.content.decode()
    assert [s.label for s in changelist.context["cl"].result_list] == [state_for(renamed).label]
    assert "outdated in Thredfi" in html


def test_the_customers_own_admin_page_says_so(renamed):
    run("thredfi_reconcile", "--fix")
    user = make_staff("clerk", "testapp.view_customer", "thredfi_django.view_syncstate")
    page = (
        client_for(user)
        .get(reverse("admin:testapp_customer_change", args=[renamed.pk]))
        .content.decode()
    )
    assert "outdated in Thredfi (no update endpoint)" in page


def test_the_flag_is_cleared_once_thredfi_matches_again(renamed, thredfi_fake):
    run("thredfi_reconcile", "--fix")
    (remote,) = thredfi_fake.records("customers")
    thredfi_fake.store.tables["customers"][remote["id"]]["individual_name"] = "Ann New"

    output, error = run("thredfi_reconcile", "--fix")
    assert error is None
    assert not state_for(renamed).remote_stale
