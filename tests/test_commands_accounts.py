"""`manage.py thredfi_accounts`: a business's chart, and creating the accounts our lines need."""

from io import StringIO

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.test import override_settings

from tests.testapp.factories import make_account
from thredfi_django import ledger

pytestmark = pytest.mark.django_db

NEEDS_7100 = {
    **settings.THREDFI,
    "ACCOUNT_CODES": {"invoice": "4000", "bill": "7100"},
    "LEDGER_ACCOUNTS": {"7100": {"name": "Software", "account_type": "expense"}},
}


@pytest.fixture
def business(committed, thredfi_fake):
    with committed():
        account = make_account()
    call_command("thredfi_sync", "--now", stdout=StringIO())
    account.refresh_from_db()
    return account


def accounts(*args):
    """(output, CommandError or None)."""
    out = StringIO()
    try:
        call_command("thredfi_accounts", *args, stdout=out)
    except CommandError as err:
        return out.getvalue(), err
    return out.getvalue(), None


def codes(fake, account) -> list[str]:
    return [a["code"] for a in fake.records("accounts", str(account.thredfi_id))]


def test_it_lists_the_chart_and_exits_0_when_nothing_is_missing(business):
    output, error = accounts()
    assert error is None
    assert "4000     Sales (revenue)" in output
    assert "5000     Cost of sales (expense)" in output
    assert "Every business has the accounts our lines use." in output


def test_a_missing_code_is_reported_and_exits_1(business, thredfi_fake):
    with override_settings(THREDFI=NEEDS_7100):
        output, error = accounts("--business", str(business.pk))
    assert "✗ missing 7100" in output
    assert "--create-missing" in str(error)
    assert "7100" not in codes(thredfi_fake, business)


def test_dry_run_shows_what_would_be_created_and_creates_nothing(business, thredfi_fake):
    with override_settings(THREDFI=NEEDS_7100):
        output, error = accounts("--create-missing", "--dry-run")
    assert "would create 7100 Software (expense)" in output
    assert error is not None
    assert "7100" not in codes(thredfi_fake, business)


def test_create_missing_creates_once_and_the_cached_chart_is_dropped(business, thredfi_fake):
    ledger.chart(str(business.thredfi_id))  # cached before the account exists
    with override_settings(THREDFI=NEEDS_7100):
        output, error = accounts("--create-missing")
        again, error_again = accounts("--create-missing")
        cached = ledger.chart(str(business.thredfi_id))

    assert error is None and error_again is None
    assert "✓ created 7100 Software (expense)" in output
    assert "created" not in again
    assert codes(thredfi_fake, business).count("7100") == 1
    assert cached["7100"]["account_type"] == "expense"


def test_a_code_without_a_ledger_accounts_entry_cannot_be_created(business):
    custom = {**settings.THREDFI, "ACCOUNT_CODES": {"invoice": "4100"}}
    with override_settings(THREDFI=custom):
        output, error = accounts("--create-missing")
    assert "cannot create 4100: add THREDFI['LEDGER_ACCOUNTS']['4100']" in output
    assert error is not None


def test_an_unknown_business_is_a_clear_error(business):
    output, error = accounts("--business", "nope")
    assert "No business matches 'nope'" in str(error)
