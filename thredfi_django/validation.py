"""Local validation: everything the docs make knowable is wrong, found before a request is
spent on it. ``validate(obj)`` raises ThredfiLocalValidationError with ``field_errors``
({field: [message]}) naming what to fix; the field names and rules are payloads.py's tables.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from . import attachments, ledger
from .exceptions import ThredfiLocalValidationError
from .money import from_cents
from .outstanding import outstanding_cents
from .payloads import (
    ACCOUNT_FIELDS,
    ALLOCATIONS,
    CURRENCIES,
    FIELDS,
    MAX_LENGTHS,
    RELATIONS,
    REQUIRED,
    ZERO_ALLOWED,
    enum_case,
    related_rows,
    to_cents,
)


def validate(obj: Any) -> None:
    """Raise ThredfiLocalValidationError naming every field that cannot be sent as it is."""
    errors: dict[str, list[str]] = {}
    resource = obj.thredfi_resource

    def add(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    for field in REQUIRED.get(resource, ()):
        if obj.get_thredfi_value(field) in (None, ""):
            add(field, f"{field} is required by Thredfi; set it on the {obj._meta.verbose_name}.")

    for target in RELATIONS.get(resource, {}).values():
        fk = obj._thredfi_fk_to(target)
        if fk is None or getattr(obj, fk.attname) is None:
            add(target, f"A {resource.replace('_', ' ')} needs a {target} before it can be sent.")

    if resource != "business" and obj.get_thredfi_business() is None:
        add("business", "No business found: set the foreign key to your business model.")

    for field in FIELDS[resource]:
        value = obj.get_thredfi_value(field)
        if value is None:
            continue
        if field.endswith("_cents"):
            check_amount(field, value, add, allow_zero=field in ZERO_ALLOWED)
        elif isinstance(value, str) and field in MAX_LENGTHS and len(value) > MAX_LENGTHS[field]:
            add(field, f"At most {MAX_LENGTHS[field]} characters (this has {len(value)}).")

    _check_currency(obj, add)
    if resource == "write_off":
        _check_write_off(obj, add)
    business = obj.get_thredfi_business()
    if resource in ACCOUNT_FIELDS and business is not None and business.thredfi_id:
        try:
            ledger.object_account(obj)
        except ThredfiLocalValidationError as err:
            for field, messages in err.field_errors.items():
                errors.setdefault(field, []).extend(messages)

    lines_name = getattr(obj, "thredfi_lines_related_name", None)
    if lines_name:
        lines = related_rows(obj, lines_name)
        if not lines and obj.pk is not None:
            add("line_items", "Add at least one line item.")
        # Keys are 0-based like the server's field errors; messages count from 1 for people.
        for n, line in enumerate(lines):
            quantity = line.get_thredfi_value("quantity")
            if quantity is None or Decimal(str(quantity)) <= 0:
                add(f"line_items[{n}].quantity", f"Line {n + 1}: quantity must be greater than 0.")
            price = line.get_thredfi_value("unit_price")
            if price is None:
                add(f"line_items[{n}].unit_price", f"Line {n + 1}: unit price is required.")
            else:
                check_amount(f"line_items[{n}].unit_price", price, add, allow_zero=True)
        business = obj.get_thredfi_business()
        if lines and business is not None and business.thredfi_id:
            try:
                ledger.line_accounts(obj, lines)
            except ThredfiLocalValidationError as err:
                for field, messages in err.field_errors.items():
                    errors.setdefault(field, []).extend(messages)
    alloc_name = getattr(obj, "thredfi_allocations_related_name", None)
    if alloc_name:
        _check_allocations(obj, related_rows(obj, alloc_name), add)
    _check_method(obj, add)
    for message in attachments.problems(obj):
        add("document", message)
    if errors:
        raise ThredfiLocalValidationError(
            f"This {obj._meta.verbose_name} cannot be sent to Thredfi as it is.", errors
        )


def _check_allocations(obj: Any, allocations: list[Any], add) -> None:
    """Each amount valid, none above what its invoice/bill has outstanding (where that bounds
    it), all within the total."""
    rule = ALLOCATIONS[obj.thredfi_resource]
    target, total_field = rule.target, rule.total_field
    valid = []
    for n, allocation in enumerate(allocations):
        value = allocation.get_thredfi_value("amount_cents")
        cents = check_amount(f"allocations[{n}].amount_cents", value, add)
        if cents is not None:
            valid.append((n, allocation, cents))
    if not valid:
        return
    if rule.bounded:
        check_outstanding(obj, allocations, valid, target, add, "amount_cents")
    total = obj.get_thredfi_value(total_field)
    try:
        total_cents = to_cents(total, total_field) if total is not None else None
    except ThredfiLocalValidationError:
        total_cents = None  # reported on the field itself
    allocated = sum(cents for _, _, cents in valid)
    if total_cents is not None and allocated > total_cents:
        add(
            "allocations",
            f"The allocations add up to {from_cents(allocated)}, more than the "
            f"{obj.thredfi_resource.replace('_', ' ')}'s {from_cents(total_cents)}.",
        )


def check_outstanding(
    obj: Any, allocations: list, valid: list, target: str, add, amount_field: str
) -> None:
    """What ``obj`` allocates to each document, at most what the document has outstanding
    (payments and credit notes alike). ``valid``: ``(index, allocation, cents)`` of the
    allocations whose amount is valid; an error names ``allocations[index].<amount_field>``."""
    outstanding = outstanding_cents(obj, [getattr(a, target) for a in allocations], target)
    mine: dict[Any, int] = {}
    for _, allocation, cents in valid:
        key = getattr(allocation, f"{target}_id")
        mine[key] = mine.get(key, 0) + cents
    for n, allocation, _ in valid:
        key = getattr(allocation, f"{target}_id")
        left = outstanding.get(key)
        if left is not None and mine[key] > left:
            add(
                f"allocations[{n}].{amount_field}",
                f"{from_cents(mine[key])} allocated to {target} {getattr(allocation, target)} "
                f"exceeds what it has outstanding, {from_cents(left)}; lower the allocation, "
                "or change the other payments allocated to it.",
            )


def _check_write_off(obj: Any, add) -> None:
    """A write-off may not exceed what its invoice has outstanding."""
    cents = check_amount("amount_cents", obj.get_thredfi_value("amount_cents"), lambda *a: None)
    fk = obj._thredfi_fk_to("invoice")
    invoice = getattr(obj, fk.name) if fk is not None else None
    if cents is None or invoice is None:
        return
    left = outstanding_cents(obj, [invoice], "invoice").get(invoice.pk)
    if left is not None and cents > left:
        add(
            "amount_cents",
            f"Writing off {from_cents(cents)} exceeds what invoice {invoice} has "
            f"outstanding, {from_cents(left)}.",
        )


#: Documented methods (digest §8). Bill payments' list is truncated in the docs ("…"), so
#: their payment_method is not checked here.
METHODS = {
    ("payment", "payment_method"): (
        "bank_transfer", "credit_card", "debit_card", "ach", "check", "cash", "paypal",
        "stripe", "other", "card", "cheque", "direct_debit",
    ),
    ("refund", "method"): (
        "BANK_TRANSFER", "CREDIT_CARD", "ACH", "CHECK", "CASH", "PAYPAL", "STRIPE", "OTHER",
    ),
}  # fmt: skip
METHODS[("refund_payment", "method")] = METHODS[("refund", "method")]


def _check_method(obj: Any, add) -> None:
    for (resource, field), allowed in METHODS.items():
        if resource != obj.thredfi_resource:
            continue
        value = obj.get_thredfi_value(field)
        if value in (None, ""):
            continue
        sent = enum_case(resource, field, value)
        if sent not in allowed:
            add(field, f"{value!r} is not a Thredfi {field}; use one of {', '.join(allowed)}.")


def check_amount(field: str, value: Any, add, *, allow_zero: bool = False) -> int | None:
    """Report (``add(field, message)``) what is wrong with an amount; its cents if nothing is."""
    try:
        cents = to_cents(value, field)
    except ThredfiLocalValidationError as err:
        for message in err.field_errors.get(field, [str(err)]):
            add(field, message)
        return None
    if cents < 0 or (cents == 0 and not allow_zero):
        add(field, f"Must be greater than {'or equal to ' if allow_zero else ''}0 (got {value}).")
        return None
    return cents


def _check_currency(obj: Any, add) -> None:
    resource = obj.thredfi_resource
    field = "base_currency" if resource == "business" else "currency"
    if field not in FIELDS[resource]:
        return
    currency = obj.get_thredfi_value(field)
    if currency in (None, ""):
        return
    if str(currency).upper() not in CURRENCIES:
        add(
            field,
            f"Unknown currency {currency!r}; Thredfi accepts {', '.join(sorted(CURRENCIES))}.",
        )
        return
    if resource in ("business", "bill", "payout"):
        return  # bills and payouts carry their own currency (the reference takes one per record)
    business = obj.get_thredfi_business()
    base = business.get_thredfi_value("base_currency") if business is not None else None
    if base and str(base).upper() != str(currency).upper():
        add(field, f"{currency} differs from the business's base currency {base}.")
