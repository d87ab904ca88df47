"""The sync dashboard: listed on the admin index, counts per model and status, oldest pending,
failures in 24 h grouped by error code, syncs per hour, in a constant number of queries."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from tests.admin_fixtures import *  # noqa: F403  (fixtures)
from tests.admin_fixtures import client_for, make_staff, state_of
from tests.testapp.models import Customer, Invoice
from thredfi_django.admin import dashboard, dashboard_data
from thredfi_django.models import SyncAttempt, SyncState, SyncStatus

DASHBOARD = "admin:thredfi_django_syncdashboard_changelist"
Outcome = SyncAttempt.Outcome


def attempt(state, outcome, *, ago, code="", message=""):
    return SyncAttempt.objects.create(
        state=state,
        started_at=timezone.now() - ago,
        outcome=outcome,
        error_code=code,
        message=message,
    )


@pytest.fixture
def history(account, make_invoice):
    """Invoices in several states and a day and a half of attempts."""
    customer = Customer.objects.create(account=account, name="Jo")
    waiting = make_invoice("INV-P1", SyncStatus.PENDING)
    make_invoice("INV-P2", SyncStatus.PENDING)
    failed = make_invoice("INV-F", SyncStatus.FAILED)
    make_invoice("INV-A", SyncStatus.NEEDS_ATTENTION)
    make_invoice("INV-S", SyncStatus.SYNCED)
    SyncState.objects.filter(pk=state_of(waiting).pk).update(
        updated_at=timezone.now() - timedelta(hours=3)
    )
    state = state_of(failed)
    attempt(state, Outcome.SUCCESS, ago=timedelta(minutes=10))
    attempt(state, Outcome.SUCCESS, ago=timedelta(minutes=20))
    attempt(state, Outcome.TRANSIENT_ERROR, ago=timedelta(minutes=30), code="timeout")
    attempt(
        state,
        Outcome.TRANSIENT_ERROR,
        ago=timedelta(hours=2),
        code="timeout",
        message="old timeout",
    )
    attempt(
        state,
        Outcome.PERMANENT_ERROR,
        ago=timedelta(hours=5),
        code="validation_error",
        message="currency invalid; Bearer abcdefghijk",
    )
    # outside the 24 h window, inside the 48 h chart
    attempt(state, Outcome.PERMANENT_ERROR, ago=timedelta(hours=30), code="forbidden")
    return {"customer": customer, "pending": waiting}


def test_counts_per_model_and_status(history):
    data = dashboard_data()

    by_model = {row["model"]: dict(row["counts"]) for row in data.by_model}
    assert by_model["Invoices"] == {
        "pending": 2,
        "in_progress": 0,
        "synced": 1,
        "blocked": 0,
        "failed": 1,
        "needs_attention": 1,
        "resolved": 0,
    }
    assert by_model["Customers"]["pending"] == 1
    assert by_model["Accounts"]["pending"] == 1
    assert data.totals["pending"] == 4 and data.problems == 2


def test_oldest_pending_is_the_one_waiting_longest(history):
    data = dashboard_data()
    assert data.oldest_pending == state_of(history["pending"]).updated_at
    assert timedelta(hours=3) <= data.oldest_pending_age < timedelta(hours=3, minutes=5)


def test_failures_in_the_last_24_hours_grouped_by_error_code(history):
    data = dashboard_data()

    assert (data.failures_24h, data.attempts_24h) == (3, 5)
    codes = [(e["error_code"], e["count"]) for e in data.errors_by_code]
    assert codes == [("timeout", 2), ("validation_error", 1)]  # "forbidden" is 30 h old
    by_code = {e["error_code"]: e for e in data.errors_by_code}
    assert by_code["timeout"]["message"] == ""  # the latest message of the group
    assert by_code["validation_error"]["message"] == "currency invalid; Bearer [redacted]"


def test_the_chart_has_one_bar_per_hour_with_successes_and_failures(history):
    data = dashboard_data(chart_hours=48)

    assert len(data.chart) == 48
    assert data.chart[-1].hour == data.now.replace(minute=0, second=0, microsecond=0)
    assert sum(bar.successes for bar in data.chart) == 2
    assert sum(bar.failures for bar in data.chart) == 4  # the 30 h old one is drawn
    tallest = max(data.chart, key=lambda bar: bar.successes + bar.failures)
    assert tallest.success_height + tallest.failure_height == pytest.approx(120)
    empty = [bar for bar in data.chart if not (bar.successes or bar.failures)]
    assert all(bar.success_height == bar.failure_height == 0 for bar in empty)


def test_the_page_renders_the_figures_and_links_into_the_outbox(history, operator):
    response = client_for(operator).get(reverse(DASHBOARD))

    html = response.content.decode()
    assert response.status_code == 200
    assert "Thredfi sync dashboard" in html
    assert 'data-model="Invoices"' in html
    invoice_ct = ContentType.objects.get_for_model(Invoice).pk
    outbox = reverse("admin:thredfi_django_syncstate_changelist")
    assert f"{outbox}?content_type__id__exact={invoice_ct}&amp;status__exact=failed" in html
    assert f"{outbox}?last_error_code=timeout" in html
    assert "<svg" in html and html.count("<rect") == sum(
        bool(b.successes) + bool(b.failures) for b in response.context["data"].chart
    )
    assert "<script" not in html.split('id="content-main"')[1]  # no JavaScript for the chart
    assert "Bearer abcdefghijk" not in html


def test_the_error_code_link_filters_the_outbox(history, operator):
    state = state_of(Invoice.objects.get(number="INV-F"))
    SyncState.objects.filter(pk=state.pk).update(last_error_code="timeout")
    response = client_for(operator).get(
        reverse("admin:thredfi_django_syncstate_changelist"), {"last_error_code": "timeout"}
    )
    assert [s.pk for s in response.context["cl"].result_list] == [state.pk]


def test_the_dashboard_costs_the_same_queries_however_many_rows(account, operator):
    client = client_for(operator)
    client.get(reverse(DASHBOARD))  # warm the content-type cache and the session

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(reverse(DASHBOARD)).status_code == 200
        return len(ctx)

    one = Invoice.objects.create(account=account, number="ONE")
    attempt(state_of(one), Outcome.TRANSIENT_ERROR, ago=timedelta(hours=1), code="code-0")
    few = queries()
    for n in range(40):
        invoice = Invoice.objects.create(account=account, number=f"N-{n}")
        attempt(
            state_of(invoice),
            Outcome.TRANSIENT_ERROR,
            ago=timedelta(hours=n % 30),
            code=f"code-{n % 7}",
        )
    Customer.objects.create(account=account, name="New model in the table")
    ContentType.objects.get_for_model(Customer)  # cached like in a long-running process
    assert queries() == few


# -- on the admin index ---------------------------------------------------------------------------


def test_the_admin_index_links_to_the_dashboard(operator):
    response = client_for(operator).get(reverse("admin:index"))
    html = response.content.decode()
    assert f'href="{reverse(DASHBOARD)}"' in html
    assert "Sync dashboard" in html


def test_without_view_permission_on_the_outbox_there_is_no_dashboard(db):
    clerk = make_staff("clerk", "testapp.view_invoice")
    client = client_for(clerk)
    assert reverse(DASHBOARD) not in client.get(reverse("admin:index")).content.decode()
    assert client.get(reverse(DASHBOARD)).status_code == 403


# -- lag of new objects ---------------------------------------------------------------------------


def created(state, *, took, ago=timedelta(minutes=5), operation="create"):
    """A successful create that answered ``took`` after the row was recorded."""
    finished = timezone.now() - ago
    SyncState.objects.filter(pk=state.pk).update(created_at=finished - took)
    return SyncAttempt.objects.create(
        state=state,
        started_at=finished - timedelta(milliseconds=80),
        finished_at=finished,
        outcome=Outcome.SUCCESS,
        operation=operation,
    )


def test_lag_percentiles_of_the_objects_created_in_the_last_hour(account, make_invoice, operator):
    for n, seconds in enumerate([1, 2, 3, 4, 100]):
        invoice = make_invoice(f"LAG-{n}", SyncStatus.SYNCED)
        created(state_of(invoice), took=timedelta(seconds=seconds))
    old = make_invoice("LAG-OLD", SyncStatus.SYNCED)  # two hours ago: outside the window
    created(state_of(old), took=timedelta(hours=5), ago=timedelta(hours=2))
    updated = make_invoice("LAG-UPD", SyncStatus.SYNCED)  # an update: not a new object
    created(state_of(updated), took=timedelta(days=3), operation="update")

    lag = dashboard_data().lag

    assert (lag.count, lag.p50, lag.p99) == (5, timedelta(seconds=3), timedelta(seconds=100))
    html = client_for(operator).get(reverse(DASHBOARD)).content.decode()
    assert "3.0 s / 100.0 s" in html


def test_no_lag_is_shown_when_nothing_was_created_in_the_last_hour(account):
    assert dashboard_data().lag is None


def test_lag_percentiles_are_of_the_newest_creates_when_there_are_many(
    account, make_invoice, monkeypatch
):
    monkeypatch.setattr(dashboard, "LAG_SAMPLE", 2)
    for n, (seconds, minutes_ago) in enumerate([(50, 30), (1, 2), (2, 1)]):
        invoice = make_invoice(f"LAG-{n}", SyncStatus.SYNCED)
        created(
            state_of(invoice), took=timedelta(seconds=seconds), ago=timedelta(minutes=minutes_ago)
        )

    lag = dashboard_data().lag

    assert (lag.count, lag.sampled, lag.p99) == (3, 2, timedelta(seconds=2))
