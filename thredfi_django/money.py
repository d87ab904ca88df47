"""Money and date values in the shapes Thredfi expects.

Thredfi speaks integer minor units ("cents") and ISO dates. The docs' own sample code converts
with ``int(amount * 100)`` on floats, which turns 19.99 into 1998; everything here goes through
:class:`~decimal.Decimal` instead and never touches a float.

    to_cents(Decimal("19.99")) == 1999
    from_cents(1999) == Decimal("19.99")
    format_date(date(2025, 1, 15)) == "2025-01-15"
    format_datetime(datetime(2025, 1, 15, 9, 30, tzinfo=UTC)) == "2025-01-15T09:30:00Z"
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Context, Decimal, InvalidOperation, localcontext

__all__ = ["to_cents", "from_cents", "format_date", "format_datetime"]


def _as_decimal(amount: Decimal | int | str) -> Decimal:
    # bool is an int subclass; True cents is always a bug upstream.
    if isinstance(amount, bool):
        raise TypeError(f"to_cents() got a bool ({amount!r}); pass a Decimal, int or str amount.")
    if isinstance(amount, float):
        raise TypeError(
            f"to_cents() got the float {amount!r}. Floats cannot hold most decimal amounts exactly "
            f"(19.99 is 19.989999...); pass Decimal('{amount!r}') or the string '{amount!r}', "
            "or use a DecimalField on the model."
        )
    if isinstance(amount, Decimal):
        value = amount
    elif isinstance(amount, int):
        value = Decimal(amount)
    elif isinstance(amount, str):
        try:
            value = Decimal(amount.strip().replace("_", ""))
        except InvalidOperation:
            raise ValueError(
                f"to_cents() cannot read {amount!r} as an amount; use digits with an optional "
                "'.' and at most 2 decimals, e.g. '10.10'."
            ) from None
    else:
        raise TypeError(
            f"to_cents() takes a Decimal, int or str amount, not {type(amount).__name__}."
        )
    if not value.is_finite():
        raise ValueError(f"to_cents() got {amount!r}, which is not a finite amount.")
    return value


#: Precision for the common case of to_cents() (no rounding needed; made once, not per call).
_EXACT = Context(prec=40)


def to_cents(amount: Decimal | int | str, *, strict: bool = False) -> int:
    """The amount in integer cents, exactly; half a cent rounds away from zero.

    ``1.005`` → 101, ``-0.005`` → -1 (``ROUND_HALF_UP``, which is what people mean by "round
    half up" for money). With ``strict=True`` an amount with more than two decimal places raises
    :class:`ValueError` instead of being rounded, for callers that must not lose a fraction.
    Floats are refused with a :class:`TypeError`: convert them where they are born.
    """
    value = _as_decimal(amount)
    sign, digit_tuple, exponent = value.as_tuple()
    digits = len(digit_tuple)
    if exponent >= -2 and digits <= 20:
        return int(value.scaleb(2, _EXACT))  # at most 2 places, 22 digits: nothing to round
    # Enough precision for any finite input, so huge amounts are exact instead of an
    # InvalidOperation from the default 28-digit context.
    with localcontext(Context(prec=digits + abs(exponent) + 10)):
        scaled = value.scaleb(2)
        cents = scaled.to_integral_value(rounding=ROUND_HALF_UP)
        if strict and cents != scaled:
            raise ValueError(
                f"{amount!r} has more than 2 decimal places; round it before sending, or call "
                "to_cents(amount) without strict=True to round half up."
            )
    return int(cents)


def from_cents(cents: int) -> Decimal:
    """Integer cents as a two-place :class:`~decimal.Decimal` (1999 → ``Decimal("19.99")``)."""
    if isinstance(cents, bool) or not isinstance(cents, int):
        raise TypeError(f"from_cents() takes an int number of cents, not {type(cents).__name__}.")
    with localcontext(Context(prec=len(str(abs(cents))) + 5)):
        return Decimal(cents).scaleb(-2)


def format_date(value: dt.date | str) -> str:
    """``YYYY-MM-DD`` for date-only fields (``payment_date``, ``bill_date``, ...).

    A ``datetime`` is refused: which calendar day it falls on depends on a time zone only the
    caller knows. Pass ``value.date()`` or ``django.utils.timezone.localdate(value)``.
    An ISO date string is checked and passed through.
    """
    if isinstance(value, dt.datetime):
        raise TypeError(
            f"format_date() got the datetime {value!r}; pass a date: value.date() for its own "
            "calendar day, or django.utils.timezone.localdate(value) for the local one."
        )
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"format_date() cannot read {value!r}; use 'YYYY-MM-DD'.") from None
    if not isinstance(value, dt.date):
        raise TypeError(f"format_date() takes a date, not {type(value).__name__}.")
    return value.isoformat()


def format_datetime(value: dt.datetime | dt.date) -> str:
    """ISO-8601 in UTC with a ``Z`` suffix, for date-time fields (``sent_at``, ``due_at``, ...).

    A ``date`` becomes midnight UTC of that day. An aware datetime is converted to UTC;
    sub-second precision is kept only when present. A naive datetime follows Django: with
    ``USE_TZ = False`` it is read in the default time zone (``TIME_ZONE``), the way Django stores
    it; with ``USE_TZ = True`` it is a bug upstream and raises :class:`ValueError` rather than
    silently shifting the time by some hours.
    """
    if not isinstance(value, dt.datetime):
        if not isinstance(value, dt.date):
            raise TypeError(f"format_datetime() takes a datetime or date, not {type(value)!r}.")
        value = dt.datetime.combine(value, dt.time(0, 0), tzinfo=dt.timezone.utc)
    if value.tzinfo is None or value.utcoffset() is None:
        value = _aware_from_naive(value)
    value = value.astimezone(dt.timezone.utc)
    timespec = "microseconds" if value.microsecond else "seconds"
    return value.replace(tzinfo=None).isoformat(timespec=timespec) + "Z"


def _aware_from_naive(value: dt.datetime) -> dt.datetime:
    from django.conf import settings
    from django.utils import timezone

    if settings.USE_TZ:
        raise ValueError(
            f"format_datetime() got the naive datetime {value!r} while USE_TZ = True, so its time "
            "zone is unknown. Make it aware first, e.g. django.utils.timezone.make_aware(value) "
            "or value.replace(tzinfo=datetime.timezone.utc)."
        )
    return timezone.make_aware(value, timezone.get_default_timezone())
