"""The outbox admin (every SyncState row): list, filters, search, the read-only detail with its
redacted attempt history, bulk "Retry" and "Mark resolved", and who may do what."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse
from django.utils import timezone

from tests.admin_fixtures import *  # noqa: F403  (fixtures)
from tests.admin_fixtures import client_for, make_staff, set_state, state_of
from tests.testapp.models import Customer
from thredfi_django.engine import absorb
from thredfi_django.models import SyncAttempt, SyncState, SyncStatus

CHANGELIST = "admin:thredfi_django_syncstate_changelist"
JWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJwYXJ0bmVyIn0.c2lnbmF0dXJlLXNlY3JldA"


def listed(response) -> list[str]:
    return sorted(state.label for state in response.context["cl"].result_list)


def change_url(state: SyncState) -> str:
    return reverse("admin:thredfi_django_syncstate_change", args=[state.pk])


@pytest.fixture
def outbox(account, make_invoice):
    """A business, a customer and three invoices in different states."""
    customer = Customer.objects.create(account=account, name="Jo Bloggs")
    invoices = {
        "synced": make_invoice("INV-1", SyncStatus.SYNCED, remote_id=uuid.uuid4()),
        "failed": make_invoice(
            "INV-2", SyncStatus.FAILED, attempts=10, last_error_code="server_error"
        ),
        "attention": make_invoice(
            "INV-3", SyncStatus.NEEDS_ATTENTION, attempts=1, last_error_code="validation_error"
        ),
    }
    return {"account": account, "customer": customer, **invoices}


# -- the list ------------------------------------------------------------------------------------


def test_the_list_shows_every_synced_object_with_its_status_and_business(outbox, operator):
    response = client_for(operator).get(reverse(CHANGELIST))

    html = response.content.decode()
    assert response.status_code == 200
    assert listed(response) == [
        "Acme Ltd",
        "Invoice INV-1",
        "Invoice INV-2",
        "Invoice INV-3",
        "Jo Bloggs",
    ]
    assert "thredfi-badge--needs-attention" in html and "thredfi-badge--failed" in html
    assert "validation_error" in html
    invoice_row = next(s for s in response.context["cl"].result_list if s.label == "Invoice INV-2")
    assert invoice_row.business == state_of(outbox["account"])
    assert '<td class="field-business_display">Acme Ltd</td>' in html


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status__exact": "failed"}, ["Invoice INV-2"]),
        ({"status__exact": "needs_attention"}, ["Invoice INV-3"]),
    ],
)
def test_status_filter(outbox, operator, params, expected):
    response = client_for(operator).get(reverse(CHANGELIST), params)
    assert listed(response) == expected


def test_filter_by_model(outbox, operator):
    content_type = ContentType.objects.get_for_model(Customer)
    response = client_for(operator).get(
        reverse(CHANGELIST), {"content_type__id__exact": content_type.pk}
    )
    assert listed(response) == ["Jo Bloggs"]
    # only models that have rows are offered
    spec = next(s for s in response.context["cl"].filter_specs if s.title == "model")
    assert [str(label) for _pk, label in spec.lookup_choices] == [
        "Accounts",
        "Customers",
        "Invoices",
    ]


def test_filter_by_business(outbox, operator, account):
    from tests.testapp.models import Account, Invoice

    other = Account.objects.create(legal_name="Other plc", email="o@example.com")
    Invoice.objects.create(account=other, number="OTHER-1")
    absorb.absorb()  # as the drain their commit wakes would
    response = client_for(operator).get(reverse(CHANGELIST), {"business": state_of(other).pk})
    assert listed(response) == ["Invoice OTHER-1", "Other plc"]
    spec = next(s for s in response.context["cl"].filter_specs if s.title == "business")
    assert [label for _pk, label in spec.lookup_choices] == ["Acme Ltd", "Other plc"]


@pytest.mark.parametrize(
    ("age", "expected"),
    [
        ("1h", ["Invoice INV-1"]),
        ("24h", ["Invoice INV-1", "Invoice INV-2"]),
        ("older24h", ["Invoice INV-3", "Jo Bloggs"]),
        ("older7d", ["Jo Bloggs"]),
    ],
)
def test_filter_by_age_of_last_change(outbox, operator, age, expected):
    now = timezone.now()
    ages = {
        "synced": timedelta(minutes=5),
        "failed": timedelta(hours=5),
        "attention": timedelta(days=2),
        "customer": timedelta(days=30),
    }
    for key, delta in ages.items():
        SyncState.objects.filter(pk=state_of(outbox[key]).pk).update(updated_at=now - delta)
    SyncState.objects.filter(pk=state_of(outbox["account"]).pk).update(
        updated_at=now - timedelta(hours=30)
    )

    response = client_for(operator).get(reverse(CHANGELIST), {"age": age})

    expected = sorted(expected + (["Acme Ltd"] if age == "older24h" else []))
    assert listed(response) == expected


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("Invoice INV-2", ["Invoice INV-2"]),  # the whole term, spaces and all
        ("  invoice inv-2 ", ["Invoice INV-2"]),  # in any case
        ("invoice", ["Invoice INV-1", "Invoice INV-2", "Invoice INV-3"]),  # the start
        ("INV-2", []),  # not within: a substring search reads the whole table
        ("Invoice%", []),  # LIKE's wildcards are plain characters
        ("_nvoice", []),
    ],
)
def test_search_finds_the_start_of_a_name(outbox, operator, term, expected):
    response = client_for(operator).get(reverse(CHANGELIST), {"q": term})
    assert listed(response) == expected


def test_search_finds_an_id_in_hand_exactly(outbox, operator):
    state = state_of(outbox["synced"])
    client = client_for(operator)

    def found(term: str) -> list[str]:
        return listed(client.get(reverse(CHANGELIST), {"q": term}))

    assert found(state.external_id) == ["Invoice INV-1"]
    assert found(state.external_id[:-1]) == []  # exactly: no prefix of an id
    assert found(str(state.remote_id).upper()) == ["Invoice INV-1"]  # a UUID in any form
    assert found(state.remote_id.hex) == ["Invoice INV-1"]
    host_id = str(outbox["failed"].pk)
    by_host_id = client.get(reverse(CHANGELIST), {"q": host_id}).context["cl"].result_list
    assert "Invoice INV-2" in [row.label for row in by_host_id]
    assert {row.object_id for row in by_host_id} == {host_id}  # one per model with that id


def test_search_finds_a_host_object_with_a_uuid_key_in_any_form(outbox):
    state = state_of(outbox["failed"])
    key = uuid.uuid4()  # as a host model with a UUID primary key stores it
    SyncState.objects.filter(pk=state.pk).update(object_id=str(key))

    assert [row.pk for row in SyncState.objects.search(key.hex.upper())] == [state.pk]


def test_the_search_box_says_what_it_matches(outbox, operator):
    html = client_for(operator).get(reverse(CHANGELIST)).content.decode()
    assert "An external id, a Thredfi id or a host object id, exactly" in html


# -- the detail: read only, with history ---------------------------------------------------------


def test_the_detail_is_read_only_and_lists_attempts_newest_first_redacted(outbox, operator):
    state = state_of(outbox["attention"])
    start = timezone.now() - timedelta(hours=1)
    SyncAttempt.objects.create(
        state=state,
        started_at=start,
        finished_at=start + timedelta(seconds=1),
        outcome=SyncAttempt.Outcome.TRANSIENT_ERROR,
        operation="create",
        http_status=503,
        error_code="service_unavailable",
        message=f"upstream said: Authorization: Bearer {JWT}",
    )
    SyncAttempt.objects.create(
        state=state,
        started_at=start + timedelta(minutes=10),
        outcome=SyncAttempt.Outcome.PERMANENT_ERROR,
        operation="create",
        http_status=400,
        error_code="validation_error",
        message="Validation errors in request data; api_key=tk_abcdef123456",
        field_errors={"currency": ["Invalid currency code. Must be one of: GBP, EUR, USD"]},
    )

    response = client_for(operator).get(change_url(state))

    html = response.content.decode()
    assert response.status_code == 200
    assert JWT not in html and "tk_abcdef123456" not in html
    assert "api_key=[redacted]" in html and "Bearer [redacted]" in html
    assert "<code>currency</code>: Invalid currency code." in html
    assert html.index("validation_error") < html.index("service_unavailable")  # newest first
    assert 'name="_save"' not in html  # nothing to save


def test_nobody_adds_or_edits_rows_by_hand(outbox, operator, db):
    client = client_for(operator)
    state = state_of(outbox["failed"])
    assert client.get(reverse("admin:thredfi_django_syncstate_add")).status_code == 403
    response = client.post(change_url(state), {"status": "synced"})
    assert response.status_code == 403
    assert state_of(outbox["failed"]).status == SyncStatus.FAILED


def test_the_detail_links_to_the_host_object(outbox, operator):
    state = state_of(outbox["failed"])
    html = client_for(operator).get(change_url(state)).content.decode()
    assert reverse("admin:testapp_invoice_change", args=[outbox["failed"].pk]) in html


def test_the_detail_says_whether_a_document_was_sent(outbox, operator):
    state = state_of(outbox["synced"])
    html = client_for(operator).get(change_url(state)).content.decode()
    assert "none sent" in html

    SyncState.objects.filter(pk=state.pk).update(document_digest="ab12cd34ef56" + "0" * 52)
    html = client_for(operator).get(change_url(state)).content.decode()
    assert "sent (SHA-256 ab12cd34ef56…)" in html


# -- bulk actions --------------------------------------------------------------------------------


def act(client, action: str, states):
    return client.post(
        reverse(CHANGELIST),
        {"action": action, ACTION_CHECKBOX_NAME: [s.pk for s in states]},
        follow=True,
    )


def test_retry_puts_rows_back_to_pending_and_enqueues_after_commit(
    outbox, operator, enqueued, django_capture_on_commit_callbacks
):
    failed, attention = state_of(outbox["failed"]), state_of(outbox["attention"])

    with django_capture_on_commit_callbacks(execute=True):
        response = act(client_for(operator), "retry", [failed, attention])

    assert [str(m) for m in response.context["messages"]] == ["2 sync states queued for sync."]
    for state in (failed, attention):
        state.refresh_from_db()
        assert (state.status, state.attempts) == (SyncStatus.PENDING, 0)
    assert sorted(enqueued) == sorted([failed.pk, attention.pk])


def test_mark_resolved_stops_retries_and_records_who_did_it(outbox, operator):
    failed, synced = state_of(outbox["failed"]), state_of(outbox["synced"])

    response = act(client_for(operator), "mark_resolved", [failed, synced])

    assert [str(m) for m in response.context["messages"]] == [
        "1 sync state marked resolved by operator. "
        "1 skipped (synced, already resolved or being synced)."
    ]
    failed.refresh_from_db()
    synced.refresh_from_db()
    assert failed.status == SyncStatus.RESOLVED and failed.next_attempt_at is None
    assert synced.status == SyncStatus.SYNCED
    entry = LogEntry.objects.get(object_id=str(failed.pk))
    assert entry.user == operator
    assert "Marked resolved by operator" in entry.get_change_message()
    assert "(was Failed)" in entry.get_change_message()


def test_without_the_sync_permission_no_bulk_action_is_offered_or_run(outbox, viewer, enqueued):
    client = client_for(viewer)
    response = client.get(reverse(CHANGELIST))
    assert response.status_code == 200
    assert response.context["action_form"] is None

    failed = state_of(outbox["failed"])
    act(client, "mark_resolved", [failed])
    act(client, "retry", [failed])
    assert state_of(outbox["failed"]).status == SyncStatus.FAILED
    assert enqueued == []


def test_with_the_sync_permission_both_actions_are_offered(outbox, operator):
    response = client_for(operator).get(reverse(CHANGELIST))
    choices = dict(response.context["action_form"].fields["action"].choices)
    assert set(choices) == {"", "retry", "mark_resolved"}  # no delete either


def test_seeing_the_outbox_needs_view_permission(outbox):
    clerk = make_staff("clerk", "testapp.view_invoice", "thredfi_django.sync_objects")
    assert client_for(clerk).get(reverse(CHANGELIST)).status_code == 403
    assert client_for(clerk).get(change_url(state_of(outbox["failed"]))).status_code == 403


def test_the_history_is_readable_with_view_permission_on_the_outbox_alone(outbox):
    reader = make_staff("reader", "thredfi_django.view_syncstate")
    state = set_state(outbox["failed"], last_error_message="boom")
    SyncAttempt.objects.create(
        state=state,
        started_at=timezone.now(),
        outcome=SyncAttempt.Outcome.TRANSIENT_ERROR,
        error_code="timeout",
    )
    html = client_for(reader).get(change_url(state)).content.decode()
    assert "attempt history (newest first)" in html.lower()
    assert "timeout" in html


# -- one row, from its detail page ---------------------------------------------------------------


def test_the_detail_page_offers_retry_and_resolve_to_operators_only(outbox, operator, viewer):
    url = change_url(state_of(outbox["failed"]))
    assert 'value="retry"' in client_for(operator).get(url).content.decode()
    assert 'value="mark_resolved"' in client_for(operator).get(url).content.decode()
    assert 'value="retry"' not in client_for(viewer).get(url).content.decode()


def test_retry_now_from_the_detail_page(
    outbox, operator, enqueued, django_capture_on_commit_callbacks
):
    state = state_of(outbox["attention"])
    action_url = reverse("admin:thredfi_django_syncstate_sync_action", args=[state.pk])

    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(operator).post(action_url, {"action": "retry"}, follow=True)

    assert response.redirect_chain[-1][0] == change_url(state)
    assert [str(m) for m in response.context["messages"]] == ["1 sync state queued for sync."]
    assert state_of(outbox["attention"]).status == SyncStatus.PENDING
    assert enqueued == [state.pk]


def test_mark_resolved_from_the_detail_page(outbox, operator):
    state = state_of(outbox["failed"])
    action_url = reverse("admin:thredfi_django_syncstate_sync_action", args=[state.pk])
    client_for(operator).post(action_url, {"action": "mark_resolved"})
    assert state_of(outbox["failed"]).status == SyncStatus.RESOLVED


def test_the_detail_page_actions_refuse_get_unknown_actions_and_viewers(outbox, operator, viewer):
    state = state_of(outbox["failed"])
    action_url = reverse("admin:thredfi_django_syncstate_sync_action", args=[state.pk])
    assert client_for(operator).get(action_url).status_code == 405
    assert client_for(operator).post(action_url, {"action": "delete"}).status_code == 400
    assert client_for(viewer).post(action_url, {"action": "retry"}).status_code == 403
    assert state_of(outbox["failed"]).status == SyncStatus.FAILED


def test_the_outbox_list_costs_the_same_queries_for_few_and_many_rows(account, make_invoice):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = client_for(make_staff("reader", "thredfi_django.view_syncstate"))
    make_invoice("A-1", SyncStatus.FAILED, last_error_code="timeout")
    client.get(reverse(CHANGELIST))  # warm the content-type cache and the session

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(reverse(CHANGELIST)).status_code == 200
        return len(ctx)

    few = queries()
    for n in range(25):
        make_invoice(f"B-{n}", SyncStatus.SYNCED if n % 2 else SyncStatus.FAILED)
    assert queries() == few


def test_the_outbox_list_links_to_the_dashboard(outbox, viewer):
    html = client_for(viewer).get(reverse(CHANGELIST)).content.decode()
    dashboard = reverse("admin:thredfi_django_syncdashboard_changelist")
    assert f'href="{dashboard}" id="thredfi-dashboard-link"' in html
