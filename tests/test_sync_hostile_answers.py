"""The engine facing a Thredfi that answers a create with something unusable: the row is never
SYNCED without a remote id, no exception escapes, nothing secret reaches a signal receiver, and
once the server behaves again the retry adopts the record the lost create made, without a
duplicate."""

from __future__ import annotations

import json

import pytest
from django.conf import settings

from tests.fixtures.secret_walk import find_secrets
from tests.testapp.factories import make_customer
from thredfi_django.engine import absorb
from thredfi_django.engine.drain import sync_state
from thredfi_django.models import SyncState, SyncStatus
from thredfi_django.signals import sync_failed

pytestmark = pytest.mark.django_db


def without_id(status, headers, content):
    body = json.loads(content)
    body.pop("id")
    return status, headers, json.dumps(body).encode()


def with_id(value):
    def answer(status, headers, content):
        return status, headers, json.dumps({**json.loads(content), "id": value}).encode()

    return answer


def of_another_record(status, headers, content):
    body = {**json.loads(content), "external_id": "dj:tests:testapp.customer:999999"}
    return status, headers, json.dumps(body).encode()


def as_list(status, headers, content):
    return status, headers, json.dumps([json.loads(content)]).encode()


def as_html(status, headers, content):
    return 200, {"Content-Type": "text/html"}, b"<html><title>Maintenance</title></html>"


def as_redirect(status, headers, content):
    return 302, {"Location": "https://elsewhere.test/v1/"}, b""


HOSTILE = {
    "no id": without_id,
    "id not a UUID": with_id("cus_123"),
    "id null": with_id(None),
    "another record's external_id": of_another_record,
    "a list": as_list,
    "an HTML page": as_html,
    "a redirect off host": as_redirect,
}


def answering_creates_with(fake, monkeypatch, mangle):
    """The fake applies each customer create, then answers it through ``mangle``."""
    real = fake.handle

    def handle(method, target, headers, body, **kwargs):
        status, out_headers, content = real(method, target, headers, body, **kwargs)
        if method == "POST" and target.endswith("/customers/") and status in (200, 201):
            return mangle(status, out_headers, content)
        return status, out_headers, content

    monkeypatch.setattr(fake, "handle", handle)
    return lambda: monkeypatch.setattr(fake, "handle", real)


@pytest.mark.parametrize("mangle", HOSTILE.values(), ids=list(HOSTILE))
def test_an_unusable_answer_to_a_create_is_retried_then_adopted_never_synced_blind(
    thredfi_fake, queue, committed, monkeypatch, mangle, django_capture_on_commit_callbacks
):
    with committed():
        customer = make_customer()
    state_id = absorb.state_for(customer).pk
    own = absorb.state_for(customer.account).pk
    queue.ids[:] = [own]
    queue.drain()  # the account (a business) first, answered properly
    failures = []
    sync_failed.connect(lambda **kw: failures.append(kw), weak=False, dispatch_uid="hostile")
    restore = answering_creates_with(thredfi_fake, monkeypatch, mangle)
    try:
        # A worker runs in autocommit: the signal follows the outcome's commit at once.
        with django_capture_on_commit_callbacks(execute=True):
            result = sync_state(state_id, worker="w")  # no exception escapes
    finally:
        sync_failed.disconnect(dispatch_uid="hostile")

    state = SyncState.objects.get(pk=state_id)
    assert result.outcome == "retry"
    assert state.status == SyncStatus.PENDING and state.remote_id is None
    assert state.last_error_kind == "malformed_response"
    customer.refresh_from_db()
    assert customer.thredfi_id is None
    assert thredfi_fake.count_by_external_id("customers") == {
        customer.get_thredfi_external_id(): 1
    }, "the create was applied all the same"
    (failure,) = failures
    assert failure["will_retry"] is True
    secrets = [settings.THREDFI["API_KEY"], *thredfi_fake.tokens.tokens]
    assert find_secrets(failure, secrets) == []
    assert find_secrets(state.__dict__, secrets) == []

    restore()
    SyncState.objects.filter(pk=state_id).update(next_attempt_at=None)
    assert sync_state(state_id, worker="w").outcome == "synced"
    (remote,) = thredfi_fake.records("customers")
    state.refresh_from_db()
    assert state.status == SyncStatus.SYNCED and str(state.remote_id) == remote["id"]
    assert thredfi_fake.count_by_external_id("customers") == {customer.get_thredfi_external_id(): 1}
