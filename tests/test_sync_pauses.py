"""A failure that is not about one row pauses what it concerns, visibly, and lifts by itself."""

from __future__ import annotations

import threading
from io import StringIO

import pytest
from django.conf import settings
from django.core.cache import caches
from django.core.management import call_command
from django.urls import reverse

from tests.testapp.factories import make_customer, make_invoice
from thredfi_django.client import reset_client
from thredfi_django.conf import thredfi_settings
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


@pytest.fixture
def no_pauses():
    """A token cache with no pause in it (another story's may still be there)."""
    caches[thredfi_settings.TOKEN_CACHE].clear()


def _race(monkeypatch, first, second):
    """Run ``first`` and ``second`` in two workers (threads), ``first`` holding on just before
    it writes the pauses back until ``second`` has had its chance: has finished, or waits for
    ``first``."""
    cache_class = type(caches[thredfi_settings.TOKEN_CACHE])
    first_read, second_had_its_chance = threading.Event(), threading.Event()
    write, wait = cache_class.set, pauses.sleep

    def set_(self, key, *args, **kwargs):
        if threading.current_thread().name == "first" and not first_read.is_set():
            first_read.set()  # it has read what it is about to write back
            second_had_its_chance.wait(10)
        return write(self, key, *args, **kwargs)

    def sleep(seconds):
        if threading.current_thread().name == "second":
            second_had_its_chance.set()
        wait(seconds)

    def run_second():
        first_read.wait(10)
        try:
            second()
        finally:
            second_had_its_chance.set()

    monkeypatch.setattr(cache_class, "set", set_)
    monkeypatch.setattr(pauses, "sleep", sleep)
    errors: list[BaseException] = []

    def worker(work):
        try:
            work()
        except BaseException as err:
            errors.append(err)

    workers = [
        threading.Thread(target=worker, args=(first,), name="first"),
        threading.Thread(target=worker, args=(run_second,), name="second"),
    ]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(20)
    assert first_read.is_set() and second_had_its_chance.is_set()
    assert not errors


def test_two_workers_pausing_two_businesses_at_once_both_pause(monkeypatch, no_pauses):
    ours, theirs = pauses.business_scope(1), pauses.business_scope(2)

    _race(
        monkeypatch,
        lambda: pauses.pause(ours, "429 Too Many Requests", seconds=60),
        lambda: pauses.pause(theirs, "429 Too Many Requests", seconds=60),
    )

    assert set(pauses.all_pauses()) == {ours, theirs}


@pytest.mark.parametrize("resume_reads_first", [True, False])
def test_a_resume_racing_a_pause_of_another_scope_loses_neither(
    monkeypatch, no_pauses, resume_reads_first
):
    ours, theirs = pauses.business_scope(1), pauses.business_scope(2)
    pauses.pause(ours, "403 Forbidden")
    resume = lambda: pauses.resume(ours)  # noqa: E731
    pause = lambda: pauses.pause(theirs, "403 Forbidden")  # noqa: E731

    _race(monkeypatch, *((resume, pause) if resume_reads_first else (pause, resume)))

    assert set(pauses.all_pauses()) == {theirs}


def test_a_worker_that_died_holding_the_lock_delays_a_pause_no_longer_than_the_lock_lasts(
    monkeypatch, caplog, no_pauses
):
    monkeypatch.setattr(pauses, "LOCK_SECONDS", 1)
    cache_class = type(caches[thredfi_settings.TOKEN_CACHE])
    with monkeypatch.context() as dying:
        dying.setattr(cache_class, "delete", lambda self, key, version=None: False)
        pauses.pause(pauses.business_scope(1), "403 Forbidden")  # dies before letting go

    pauses.pause(pauses.business_scope(2), "403 Forbidden")

    assert set(pauses.all_pauses()) == {pauses.business_scope(1), pauses.business_scope(2)}
    assert "without it" not in caplog.text, "it waited for the lock to run out, not past it"
