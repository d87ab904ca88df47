"""`manage.py thredfi_status`: counts per model and status, the oldest pending, recent failures."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from tests.testapp.factories import make_invoice
from thredfi_django.engine.absorb import state_for
from thredfi_django.models import SyncState, SyncStatus

pytestmark = pytest.mark.django_db


def status(*args):
    out = StringIO()
    call_command("thredfi_status", *args, stdout=out)
    return out.getvalue()


def test_an_empty_project_says_nothing_is_tracked():
    assert "No objects are tracked" in status()


def test_counts_per_model_and_status():
    make_invoice()
    make_invoice()
    output = status()
    lines = {line.split()[0]: line.split()[1:] for line in output.splitlines() if line.strip()}
    # columns: pending in_progress synced blocked failed needs_attention resolved total
    assert lines["testapp.Invoice"] == ["2", "0", "0", "0", "0", "0", "0", "2"]
    assert lines["testapp.Account"][0] == "2"
    assert lines["all"][-1] == "6"  # 2 accounts, 2 customers, 2 invoices
    assert "Oldest pending: testapp." in output
    assert "No failures." in output


def test_oldest_pending_shows_how_long_it_waited():
    invoice = make_invoice()
    SyncState.objects.filter(pk=state_for(invoice).pk).update(
        updated_at=timezone.now() - timedelta(hours=3, minutes=5)
    )
    assert f"Oldest pending: testapp.Invoice #{invoice.pk} 'Invoice " in status()
    assert "waiting 3h 5m" in status()


def test_recent_failures_list_error_code_and_message():
    invoice = make_invoice()
    SyncState.objects.filter(pk=state_for(invoice).pk).update(
        status=SyncStatus.NEEDS_ATTENTION,
        last_error_code="validation_error",
        last_error_status=400,
        last_error_message="Invalid currency code. Must be one of: GBP, EUR, USD\nmore detail",
        last_error_at=timezone.now(),
    )
    output = status()
    assert "Recent failures (last 1)" in output
    failure = next(line for line in output.splitlines() if "validation_error" in line)
    assert f"testapp.Invoice #{invoice.pk}" in failure
    assert "[needs_attention] validation_error HTTP 400: Invalid currency code" in failure
    assert "more detail" not in output  # first line only
    assert "No failures." not in output


def test_check_exits_non_zero_only_while_something_failed():
    invoice = make_invoice()
    status("--check")  # all pending: fine
    SyncState.objects.filter(pk=state_for(invoice).pk).update(status=SyncStatus.FAILED)
    with pytest.raises(CommandError, match="1 object") as excinfo:
        status("--check")
    assert excinfo.value.returncode == 1


def test_failures_can_be_hidden():
    invoice = make_invoice()
    SyncState.objects.filter(pk=state_for(invoice).pk).update(status=SyncStatus.FAILED)
    assert "Recent failures" not in status("--failures", "0")
