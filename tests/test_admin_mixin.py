"""ThredfiSyncAdminMixin on the host's own InvoiceAdmin: badge column, status filter, the
read-only Thredfi fieldset, "Sync now" / "Retry failed", permissions, and no query per row."""

from __future__ import annotations

import uuid

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.contenttypes.models import ContentType
from django.db import connection, models
from django.test.utils import CaptureQueriesContext, isolate_apps
from django.urls import reverse

from tests.admin_fixtures import *  # noqa: F403  (fixtures)
from tests.admin_fixtures import client_for, make_staff, state_of
from tests.testapp.models import Invoice
from thredfi_django.admin import annotate_sync_state
from thredfi_django.models import SyncState, SyncStatus

CHANGELIST = "admin:testapp_invoice_changelist"


def shown_numbers(response) -> list[str]:
    return sorted(obj.number for obj in response.context["cl"].result_list)


def badge(status: str) -> str:
    return f'data-thredfi-status="{status}"'


# -- the changelist ------------------------------------------------------------------------------


def test_each_row_carries_a_status_badge_with_colour_class_and_text(make_invoice, operator):
    make_invoice("INV-1", SyncStatus.SYNCED)
    make_invoice("INV-2", SyncStatus.NEEDS_ATTENTION, last_error_code="validation_error")
    make_invoice("INV-3", None)

    response = client_for(operator).get(reverse(CHANGELIST))

    html = response.content.decode()
    assert response.status_code == 200
    assert 'class="thredfi-badge thredfi-badge--synced"' in html
    assert ">Synced</span>" in html
    assert "thredfi-badge--needs-attention" in html and ">Needs attention</span>" in html
    assert 'title="validation_error"' in html  # the error code as a tooltip
    assert badge("never") in html and ">Never synced</span>" in html
    assert "thredfi_django/admin.css" in html


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("failed", ["INV-F"]),
        ("needs_attention", ["INV-A"]),
        ("problems", ["INV-A", "INV-F"]),
        ("synced", ["INV-S"]),
        ("never", ["INV-N"]),
        (None, ["INV-A", "INV-F", "INV-N", "INV-P", "INV-S"]),
    ],
)
def test_the_status_filter_narrows_the_list(make_invoice, operator, value, expected):
    make_invoice("INV-S", SyncStatus.SYNCED)
    make_invoice("INV-P", SyncStatus.PENDING)
    make_invoice("INV-F", SyncStatus.FAILED)
    make_invoice("INV-A", SyncStatus.NEEDS_ATTENTION)
    make_invoice("INV-N", None)

    params = {"thredfi_status": value} if value else {}
    response = client_for(operator).get(reverse(CHANGELIST), params)

    assert response.status_code == 200
    assert shown_numbers(response) == expected


def test_the_filter_offers_every_status_and_never_synced(make_invoice, operator):
    make_invoice("INV-1")
    response = client_for(operator).get(reverse(CHANGELIST))
    spec = next(s for s in response.context["cl"].filter_specs if s.title == "Thredfi sync")
    values = [choice[0] for choice in spec.lookup_choices]
    assert values == ["problems", *SyncStatus.values, "never"]


def test_the_badge_column_sorts_by_status(make_invoice, operator):
    make_invoice("INV-1", SyncStatus.SYNCED)
    make_invoice("INV-2", SyncStatus.FAILED)
    cl = client_for(operator).get(reverse(CHANGELIST)).context["cl"]
    column = cl.list_display.index("thredfi_status_badge")
    response = client_for(operator).get(reverse(CHANGELIST), {"o": str(column)})
    assert [o.number for o in response.context["cl"].result_list] == ["INV-2", "INV-1"]


def test_the_changelist_costs_the_same_queries_for_3_rows_and_30(make_invoice, operator):
    client = client_for(operator)
    for n in range(3):
        make_invoice(f"A-{n}", SyncStatus.SYNCED)
    client.get(reverse(CHANGELIST))  # warm caches (content types, session)

    with CaptureQueriesContext(connection) as three:
        response = client.get(reverse(CHANGELIST))
    assert len(response.context["cl"].result_list) == 3

    for n in range(27):
        make_invoice(f"B-{n}", SyncStatus.FAILED if n % 2 else SyncStatus.SYNCED)
    with CaptureQueriesContext(connection) as thirty:
        response = client.get(reverse(CHANGELIST))
    assert len(response.context["cl"].result_list) == 30

    assert len(thirty) == len(three), [q["sql"] for q in thirty.captured_queries]


def test_a_saved_object_not_taken_in_yet_shows_and_filters_as_pending(make_invoice, operator):
    synced = make_invoice("INV-S", SyncStatus.SYNCED)
    synced.memo = "edited, the drain has not run yet"
    synced.save()  # marks the row only: its sync state still says synced
    assert state_of_row(synced).status == SyncStatus.SYNCED
    client = client_for(operator)

    response = client.get(reverse(CHANGELIST))
    assert badge("pending") in response.content.decode()
    assert badge("synced") not in response.content.decode()
    assert shown_numbers(client.get(reverse(CHANGELIST), {"thredfi_status": "pending"})) == [
        "INV-S"
    ]
    assert shown_numbers(client.get(reverse(CHANGELIST), {"thredfi_status": "synced"})) == []


def state_of_row(obj) -> SyncState:
    """The sync-state row as stored (state_of would absorb the marker first)."""
    content_type = ContentType.objects.get_for_model(obj)
    return SyncState.objects.get(content_type=content_type, object_id=str(obj.pk))


# -- the change form -------------------------------------------------------------------------------


def test_the_change_form_shows_the_thredfi_fieldset_read_only(make_invoice, operator):
    remote = uuid.uuid4()
    invoice = make_invoice(
        "INV-9",
        SyncStatus.NEEDS_ATTENTION,
        remote_id=remote,
        attempts=3,
        last_error_code="validation_error",
        last_error_status=400,
        last_error_kind="validation",
        last_error_message="Validation errors in request data (Authorization: Bearer abc.def)",
        last_error_fields={"currency": ["Invalid currency code. Must be one of: GBP, EUR, USD"]},
    )
    Invoice.objects.filter(pk=invoice.pk).update(thredfi_id=remote)

    response = client_for(operator).get(reverse("admin:testapp_invoice_change", args=[invoice.pk]))

    html = response.content.decode()
    assert response.status_code == 200
    fieldsets = [fs.name for fs in response.context["adminform"]]
    assert fieldsets[-1] == "Thredfi"
    thredfi = list(response.context["adminform"])[-1]
    shown = list(thredfi.fields)
    assert shown == [
        "thredfi_sync_status",
        "thredfi_id",
        "thredfi_remote_status",
        "thredfi_external_id",
        "thredfi_attempts",
        "thredfi_last_error",
    ]
    assert str(remote) in html
    assert state_of(invoice).external_id in html
    assert "validation_error · HTTP 400 · validation" in html
    assert "<code>currency</code>: Invalid currency code." in html
    assert "Bearer abc.def" not in html and "Bearer [redacted]" in html
    assert (
        f'href="{reverse("admin:thredfi_django_syncstate_change", args=[state_of(invoice).pk])}"'
        in html
    )
    # none of it is editable
    assert 'name="thredfi_id"' not in html


def test_the_add_form_has_no_thredfi_fieldset(account):
    operator = make_staff("adder", "testapp.add_invoice", "testapp.view_invoice")
    response = client_for(operator).get(reverse("admin:testapp_invoice_add"))
    assert response.status_code == 200
    assert "Thredfi" not in [fs.name for fs in response.context["adminform"]]


def test_a_never_synced_object_says_so_on_its_form(make_invoice, operator):
    invoice = make_invoice("INV-0", None)
    response = client_for(operator).get(reverse("admin:testapp_invoice_change", args=[invoice.pk]))
    assert badge("never") in response.content.decode()


def test_the_history_link_needs_view_permission_on_the_outbox(make_invoice):
    invoice = make_invoice("INV-1", SyncStatus.SYNCED)
    clerk = make_staff("clerk", "testapp.view_invoice")
    response = client_for(clerk).get(reverse("admin:testapp_invoice_change", args=[invoice.pk]))
    html = response.content.decode()
    assert badge("synced") in html  # the host model's view permission is enough for the badge
    assert "sync history" not in html


# -- actions -------------------------------------------------------------------------------------


def post_action(client, action: str, objects, **params):
    return client.post(
        reverse(CHANGELIST),
        {"action": action, ACTION_CHECKBOX_NAME: [o.pk for o in objects], **params},
        follow=True,
    )


def test_retry_failed_queues_only_failed_rows_and_says_how_many(
    make_invoice, operator, enqueued, django_capture_on_commit_callbacks
):
    failed = make_invoice("INV-F", SyncStatus.FAILED, attempts=10)
    attention = make_invoice("INV-A", SyncStatus.NEEDS_ATTENTION, attempts=1)
    synced = make_invoice("INV-S", SyncStatus.SYNCED)

    with django_capture_on_commit_callbacks(execute=True):
        response = post_action(
            client_for(operator), "thredfi_retry_failed", [failed, attention, synced]
        )

    messages = [str(m) for m in response.context["messages"]]
    assert messages == [
        "2 invoices queued for sync with Thredfi. 1 skipped (nothing to retry, "
        "or being synced right now)."
    ]
    assert state_of(failed).status == SyncStatus.PENDING and state_of(failed).attempts == 0
    assert state_of(attention).status == SyncStatus.PENDING
    assert state_of(synced).status == SyncStatus.SYNCED
    # handed to Celery after commit, not pushed during the request
    assert sorted(enqueued) == sorted([state_of(failed).pk, state_of(attention).pk])


@pytest.mark.django_db(transaction=True)  # commits for real, as a request outside a test does
def test_sync_now_queues_every_selected_object_including_never_synced_ones(
    make_invoice, operator, enqueued
):
    synced = make_invoice("INV-S", SyncStatus.SYNCED, synced_version=1)
    never = make_invoice("INV-N", None)
    enqueued.clear()  # the saves above enqueued their own pushes

    response = post_action(client_for(operator), "thredfi_sync_now", [synced, never])

    assert [str(m) for m in response.context["messages"]] == [
        "2 invoices queued for sync with Thredfi."
    ]
    assert state_of(synced).status == SyncStatus.PENDING
    assert state_of(synced).is_dirty  # version bumped: the current state is pushed again
    assert state_of(never).status == SyncStatus.PENDING
    assert sorted(enqueued) == sorted([state_of(synced).pk, state_of(never).pk])


def test_actions_make_no_http_request(make_invoice, operator, enqueued):
    import responses

    invoice = make_invoice("INV-F", SyncStatus.FAILED)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as http:
        post_action(client_for(operator), "thredfi_retry_failed", [invoice])
        post_action(client_for(operator), "thredfi_sync_now", [invoice])
    assert len(http.calls) == 0


def test_without_the_sync_permission_the_actions_are_hidden_and_refused(
    make_invoice, viewer, enqueued
):
    invoice = make_invoice("INV-F", SyncStatus.FAILED)
    client = client_for(viewer)

    response = client.get(reverse(CHANGELIST))
    action_form = response.context["action_form"]  # None: no action left to offer at all
    choices = [name for name, _label in action_form.fields["action"].choices] if action_form else []
    assert "thredfi_retry_failed" not in choices and "thredfi_sync_now" not in choices
    assert badge("failed") in response.content.decode()  # still sees the status

    post_action(client, "thredfi_retry_failed", [invoice])
    assert state_of(invoice).status == SyncStatus.FAILED
    assert enqueued == []


def test_with_the_sync_permission_the_actions_are_offered(make_invoice, operator):
    make_invoice("INV-1")
    response = client_for(operator).get(reverse(CHANGELIST))
    choices = dict(response.context["action_form"].fields["action"].choices)
    assert choices["thredfi_sync_now"] == "Sync now with Thredfi"
    assert choices["thredfi_retry_failed"] == "Retry failed Thredfi syncs"


def test_without_view_permission_on_the_host_model_nothing_is_shown(make_invoice):
    make_invoice("INV-1")
    outsider = make_staff("outsider", "thredfi_django.sync_objects")
    assert client_for(outsider).get(reverse(CHANGELIST)).status_code == 403


# -- UUID primary keys -----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@isolate_apps("tests.testapp")
def test_the_annotation_matches_uuid_primary_keys():
    """object_id holds str(uuid) (with hyphens); the database may store the pk as native uuid
    (PostgreSQL) or 32 hex characters (SQLite). Both must match."""

    class Gadget(models.Model):
        id = models.UUIDField(primary_key=True, default=uuid.uuid4)

        class Meta:
            app_label = "testapp"

    with connection.schema_editor() as editor:
        editor.create_model(Gadget)
    try:
        tracked, untracked = Gadget.objects.create(), Gadget.objects.create()
        SyncState.objects.create(
            content_type=ContentType.objects.get_for_model(Gadget),
            object_id=str(tracked.pk),
            resource="gadget",
            external_id="g-1",
            status=SyncStatus.FAILED,
        )
        statuses = dict(
            annotate_sync_state(Gadget.objects.all()).values_list("pk", "_thredfi_status")
        )
        assert statuses == {tracked.pk: SyncStatus.FAILED, untracked.pk: None}
    finally:
        with connection.schema_editor() as editor:
            editor.delete_model(Gadget)


def test_the_hosts_own_actions_still_work_on_the_annotated_queryset(make_invoice):
    invoice = make_invoice("INV-GONE", SyncStatus.SYNCED)
    manager = make_staff("manager", "testapp.view_invoice", "testapp.delete_invoice")
    client = client_for(manager)
    response = client.post(
        reverse(CHANGELIST),
        {"action": "delete_selected", ACTION_CHECKBOX_NAME: [invoice.pk], "post": "yes"},
        follow=True,
    )
    assert response.status_code == 200
    assert not Invoice.objects.filter(pk=invoice.pk).exists()
