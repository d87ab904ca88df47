"""Field checks shared by the handlers; each adds messages to a :class:`FieldErrors`."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from .errors import FieldErrors

CURRENCIES = ("EUR", "GBP", "USD", "SEK", "NOK", "DKK", "ISK", "MYR", "SGD")
COUNTRIES = (
    "GB", "DE", "FR", "NL", "ES", "BE", "IT", "IE", "AT", "PT", "SE", "NO", "DK", "FI", "IS",
    "MY", "SG",
)  # fmt: skip
#: Currency a business gets when it sends a country but no base_currency.
COUNTRY_CURRENCY = {
    "GB": "GBP", "SE": "SEK", "NO": "NOK", "DK": "DKK", "IS": "ISK", "MY": "MYR", "SG": "SGD",
}  # fmt: skip
#: The entity types the guides list per country (digest §3.9.1). Only GB's list is complete; the
#: others are truncated or examples. ENFORCED_COUNTRIES lists every country the guides say
#: enforces a list (GB, DE, NL, ES, BE, and MY/SG per the reference).
ENTITY_TYPES = {
    "GB": ("limited", "sole_trader", "llp", "partnership", "plc"),
    "DE": ("gmbh", "ug", "ag_de", "einzelunternehmen", "gbr", "kg", "ohg"),
    "NL": ("bv",),
    "ES": ("sl",),
}
COMPLETE_ENTITY_TYPES = ("GB",)
ENFORCED_COUNTRIES = ("GB", "DE", "NL", "ES", "BE", "MY", "SG")
PAYMENT_METHODS = (
    "bank_transfer", "credit_card", "debit_card", "ach", "check", "cash", "paypal", "stripe",
    "other", "card", "cheque", "direct_debit",
)  # fmt: skip
REFUND_METHODS = (
    "BANK_TRANSFER",
    "CREDIT_CARD",
    "ACH",
    "CHECK",
    "CASH",
    "PAYPAL",
    "STRIPE",
    "OTHER",
)
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def required(data: dict, names: tuple[str, ...], errors: FieldErrors) -> None:
    for name in names:
        if data.get(name) in (None, ""):
            errors.add(name, "This field is required.")


def string(
    data: dict, name: str, errors: FieldErrors, max_length: int | None = None, min_length: int = 0
) -> None:
    value = data.get(name)
    if value is None:
        return
    if not isinstance(value, str):
        errors.add(name, "Not a valid string.")
    elif len(value) < min_length:
        errors.add(name, "This field may not be blank.")
    elif max_length is not None and len(value) > max_length:
        errors.add(name, f"Ensure this field has no more than {max_length} characters.")


def email(data: dict, name: str, errors: FieldErrors) -> None:
    value = data.get(name)
    if value not in (None, "") and (not isinstance(value, str) or not EMAIL.match(value)):
        errors.add(name, "Enter a valid email address.")


def choice(data: dict, name: str, options: tuple[str, ...], errors: FieldErrors) -> None:
    value = data.get(name)
    if value not in (None, "") and value not in options:
        errors.add(name, f'"{value}" is not a valid choice. Must be one of: {", ".join(options)}.')


def integer(
    data: dict, name: str, errors: FieldErrors, minimum: int | None = None, label: str | None = None
) -> int | None:
    """The integer in ``data[name]`` (None when absent); floats, bools and strings are errors."""
    value = data.get(name)
    label = label or name
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        errors.add(label, "A valid integer (amount in cents) is required.")
        return None
    if minimum is not None and value < minimum:
        errors.add(label, f"Ensure this value is greater than or equal to {minimum}.")
        return None
    return value


def quantity(value: Any, label: str, errors: FieldErrors) -> Decimal | None:
    """A positive quantity from a number or decimal string."""
    if isinstance(value, bool) or value is None or value == "":
        errors.add(label, "A valid number is required.")
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        errors.add(label, "A valid number is required.")
        return None
    if not number.is_finite() or number <= 0:
        errors.add(label, "Ensure this value is greater than 0.")
        return None
    return number


def cents(amount: Decimal) -> int:
    """Round to whole cents, half up (0.5 → 1)."""
    return int(amount.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def date_value(data: dict, name: str, errors: FieldErrors) -> None:
    value = data.get(name)
    if value in (None, ""):
        return
    try:
        date.fromisoformat(str(value))
    except ValueError:
        errors.add(name, "Date has wrong format. Use YYYY-MM-DD.")


def datetime_value(data: dict, name: str, errors: FieldErrors) -> None:
    """ISO-8601 date-time or a plain date (the guides send ``sent_at: "2025-01-15"``)."""
    value = data.get(name)
    if value in (None, ""):
        return
    text = str(value)
    try:
        datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except ValueError:
        errors.add(name, "Datetime has wrong format. Use ISO 8601, e.g. 2025-01-15T10:00:00Z.")


def list_of_objects(data: dict, name: str, errors: FieldErrors) -> list[dict]:
    value = data.get(name)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        errors.add(name, "Expected a list of objects.")
        return []
    return value


def boolean(value: Any) -> bool | None:
    """Query-string truthiness (``true``/``1``/``yes``); None when absent."""
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("true", "1", "yes", "on")
