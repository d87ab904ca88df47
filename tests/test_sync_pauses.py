"""A failure that is not about one row pauses what it concerns, visibly, and lifts by itself."""

from __future__ import annotations

from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command
from django.urls import reverse

from tests.testapp.factories import make_customer, make_invoice
from thredfi_django.client import reset_client
from thredfi_django.engine import absorb, pauses
from thredfi_django.engine.drain import drain
from thredfi_django.engine.sweep import sweep
from thredfi_django.models import SyncState, SyncStatus
from thredfi_django.signals import sync_paused

pytestmark = pytest.mark.django_db


@pytest.fixture
def paused_signals():
    heard: list[dict] = []

    def receiver(**kwargs):
        heard.append(kwargs)

    sync_paused.connect(receiver, dispatch_uid="test-pauses")
    yield heard
    sync_paused.disconnect(dispatch_uid="test-pauses")


def test_rejected_credentials_pause_every_push_instead_of_flooding_needs_attention(
    thredfi_fake, paused_signals, django_capture_on_commit_callbacks, admin_client, admin_user
):
    customer = make_customer()
    for _ in range(5):
        make_invoice(customer)
    partner = settings.THREDFI["PARTNER_UUID"]
    thredfi_fake.add_partner(partner, "a-key-rotated-away")  # ours is no longer accepted
    reset_client()

    with django_capture_on_commit_callbacks(execute=True):
        drain(worker="w")
    statuses = set(SyncState.objects.values_list("status", flat=True))
    assert statuses == {SyncStatus.PENDING}, "nothing needs attention for the key"
    assert set(pauses.all_pauses()) == {pauses.CREDENTIALS}
    assert [h["scope"] for h in paused_signals] == [pauses.CREDENTIALS]
    assert "authentication" in set(SyncState.objects.values_list("last_error_kind", flat=True))
    requests = thredfi_fake.stats.total_requests
    assert drain(worker="w") == 0, "nothing is claimed while paused"
    assert thredfi_fake.stats.total_requests == requests

    sweep()  # probes: the key is still rejected
    assert pauses.CREDENTIALS in pauses.all_pauses()
    status = StringIO()
    call_command("thredfi_status", stdout=status)
    assert "Sync paused (credentials)" in status.getvalue()
    admin_client.force_login(admin_user)
    page = admin_client.get(reverse("admin:thredfi_django_syncdashboard_changelist"))
    assert "Thredfi rejects the partner credentials" in page.content.decode()

    thredfi_fake.add_partner(partner, settings.THREDFI["API_KEY"])  # the key works again
    sweep()
    assert pauses.all_pauses() == {}
    drain(worker="w")
    assert set(SyncState.objects.values_list("status", flat=True)) == {SyncStatus.SYNCED}
    assert len(paused_signals) == 1


def test_a_403_on_one_business_pauses_that_business_only(thredfi_fake):
    ours, theirs = make_customer(), make_customer()
    drain(worker="w")
    absorb.absorb_all()
    assert set(SyncState.objects.values_list("status", flat=True)) == {SyncStatus.SYNCED}
    ours.account.refresh_from_db()
    forbidden = str(ours.account.thredfi_id)
    thredfi_fake.fail_next(5, status=403, path_contains=forbidden)
    mine, other = make_invoice(ours), make_invoice(theirs)

    drain(worker="w")
    business = absorb.state_for(ours.account)
    assert set(pauses.all_pauses()) == {pauses.business_scope(business.pk)}
    assert absorb.state_for(mine).status == SyncStatus.PENDING
    assert absorb.state_for(other).status == SyncStatus.SYNCED
    assert drain(worker="w") == 0, "the paused business's rows are not claimed"
