"""Amounts become exact integer cents and dates the strings Thredfi expects."""

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.test import override_settings

from thredfi_django.money import format_date, format_datetime, from_cents, to_cents


@pytest.mark.parametrize(
    "amount, cents",
    [
        # The docs' int(x * 100) on floats turns 19.99 into 1998; we must not.
        (Decimal("19.99"), 1999),
        ("19.99", 1999),
        ("10.10", 1010),
        (" 10.1 ", 1010),
        (7, 700),
        (Decimal("0"), 0),
        # Half a cent rounds half up, away from zero, even where binary floats would not.
        (Decimal("0.005"), 1),
        (Decimal("1.005"), 101),
        (Decimal("2.675"), 268),
        (Decimal("-0.005"), -1),
        (Decimal("-1.015"), -102),
        (Decimal("0.004999"), 0),
        (Decimal("-0.004"), 0),
        ("1E+2", 10000),
        # Far beyond the default 28-digit decimal context, still exact.
        (
            Decimal("123456789012345678901234567890123.455"),
            12345678901234567890123456789012346,
        ),
        (10**30, 10**32),
    ],
)
def test_amounts_become_exact_cents(amount, cents):
    assert to_cents(amount) == cents
    assert type(to_cents(amount)) is int


def test_a_float_is_refused_with_a_hint_to_use_decimal():
    with pytest.raises(TypeError, match=r"Decimal\('19.99'\)"):
        to_cents(19.99)


@pytest.mark.parametrize("amount", [True, None, [1], b"1.00"])
def test_other_types_are_refused(amount):
    with pytest.raises(TypeError):
        to_cents(amount)


@pytest.mark.parametrize("amount", ["ten", "", "1,00", "NaN", Decimal("Infinity"), "-inf"])
def test_text_that_is_not_an_amount_says_so(amount):
    with pytest.raises(ValueError, match="amount|finite"):
        to_cents(amount)


def test_strict_mode_refuses_to_drop_a_fraction_of_a_cent():
    assert to_cents("19.990", strict=True) == 1999
    assert to_cents(5, strict=True) == 500
    with pytest.raises(ValueError, match="more than 2 decimal places"):
        to_cents(Decimal("1.005"), strict=True)


def test_from_cents_is_the_exact_inverse():
    assert from_cents(1999) == Decimal("19.99")
    assert str(from_cents(1999)) == "19.99"
    assert str(from_cents(-5)) == "-0.05"
    assert from_cents(10**40) == Decimal(10**38)
    for cents in (0, 1, -1, 1999, 123456789, -987654321):
        assert to_cents(from_cents(cents)) == cents
    with pytest.raises(TypeError):
        from_cents(19.99)
    with pytest.raises(TypeError):
        from_cents(Decimal("19.99"))


def test_dates_are_iso_days():
    assert format_date(dt.date(2025, 1, 5)) == "2025-01-05"
    assert format_date("2025-01-05") == "2025-01-05"
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        format_date("05/01/2025")


def test_a_datetime_is_not_silently_cut_to_some_day():
    with pytest.raises(TypeError, match="localdate"):
        format_date(dt.datetime(2025, 1, 5, 23, 30, tzinfo=dt.timezone.utc))


def test_datetimes_are_utc_with_z():
    amsterdam = ZoneInfo("Europe/Amsterdam")
    assert format_datetime(dt.datetime(2025, 1, 15, 9, 30, tzinfo=dt.timezone.utc)) == (
        "2025-01-15T09:30:00Z"
    )
    # 00:30 in Amsterdam is still the previous day in UTC.
    assert format_datetime(dt.datetime(2025, 1, 15, 0, 30, tzinfo=amsterdam)) == (
        "2025-01-14T23:30:00Z"
    )
    assert format_datetime(dt.datetime(2025, 1, 15, 9, 30, 0, 250000, tzinfo=dt.timezone.utc)) == (
        "2025-01-15T09:30:00.250000Z"
    )
    # A date means midnight UTC of that day.
    assert format_datetime(dt.date(2025, 1, 15)) == "2025-01-15T00:00:00Z"


def test_a_naive_datetime_is_an_error_when_django_uses_time_zones():
    with pytest.raises(ValueError, match="make_aware"):
        format_datetime(dt.datetime(2025, 1, 15, 9, 30))


@override_settings(USE_TZ=False, TIME_ZONE="Europe/Amsterdam")
def test_a_naive_datetime_is_local_time_when_django_does_not_use_time_zones():
    assert format_datetime(dt.datetime(2025, 7, 1, 12, 0)) == "2025-07-01T10:00:00Z"
