"""`manage.py thredfi_status`: counts per model and status, the oldest pending, recent failures."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from tests.testapp.factories import make_invoice
from tests.testapp.models import Account, Invoice
from thredfi_django.engine import absorb
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
    # columns: pending in_progress synced blocked failed needs_attention resolved
    # never_recorded total
    assert lines["testapp.Invoice"] == ["2", "0", "0", "0", "0", "0", "0", "0", "2"]
    assert lines["testapp.Account"][0] == "2"
    assert lines["all"][-1] == "6"  # 2 accounts, 2 customers, 2 invoices
    assert "Oldest pending: testapp." in output
    assert "No failures." in output


def test_objects_never_recorded_are_counted_and_the_way_to_push_them_is_named():
    invoice = make_invoice()
    absorb.absorb_all()
    # bulk_create saves nothing through the model, so no sync state is ever recorded.
    Invoice.objects.bulk_create(
        [Invoice(account=invoice.account, customer=invoice.customer, number=f"BULK-{i}")
         for i in range(5)]
    )  # fmt: skip

    output = status()

    lines = {line.split()[0]: line.split()[1:] for line in output.splitlines() if line.strip()}
    assert lines["testapp.Invoice"][0] == "1"  # the saved one, pending
    assert lines["testapp.Invoice"][-2:] == ["5", "6"]  # never recorded, total
    assert lines["all"][-1] == "8"  # the account, the customer and six invoices
    assert "5 object(s) were never recorded for sync" in output
    assert "Run `manage.py thredfi_sync` to record and push them." in output


def test_a_project_with_only_unrecorded_objects_is_not_called_empty():
    Account.objects.bulk_create([Account(legal_name="Old Ltd", email="a@old.example")])
    output = status()
    assert "No objects are tracked" not in output
    assert "1 object(s) were never recorded" in output


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
