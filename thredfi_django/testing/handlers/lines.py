"""Line items of invoices and bills: validation and totals (integer cents, half-up).

The docs show two line schemas (digest §10 q9); the fake accepts the one ``fake.line_schema``
names and refuses the other's keys, so a client mixing them fails here as it would on a server
that reads only one of them:
- ``"guide"``: ``unit_price_cents`` + ``account_code`` (a code of the business's chart);
- ``"reference"``: ``unit_price`` (integer cents) + ``account_identifier`` ``{"type":
  "AccountId", "id": <ledger account id of the business>}``.
``quantity`` (a number or decimal string > 0) and the price are required. Kept lenient on
purpose: a line without an account is accepted (no page says the account is required).
line subtotal = round_half_up(quantity × unit_price); line total = subtotal − discount_amount +
Σ sales_taxes[].amount.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from .. import validate as v
from ..errors import FieldErrors
from .accounts import by_code

if TYPE_CHECKING:
    from ..routes import Call

KEPT = ("external_id", "description", "product")
#: schema -> (price key, account key); each schema refuses the other's two keys.
SCHEMAS = {
    "guide": ("unit_price_cents", "account_code"),
    "reference": ("unit_price", "account_identifier"),
}


def line_items(data: dict[str, Any], errors: FieldErrors) -> Iterator[tuple[str, dict]]:
    """(label, item) for each object in ``data["line_items"]``; a missing or empty list and an
    item that is not an object are errors, the same for every document that has lines."""
    raw = data.get("line_items")
    if not isinstance(raw, list) or not raw:
        errors.add("line_items", "At least one line item is required.")
        return
    for n, item in enumerate(raw):
        label = f"line_items[{n}]"
        if isinstance(item, dict):
            yield label, item
        else:
            errors.add(label, "Expected an object.")


def parse_lines(call: Call, data: dict[str, Any], errors: FieldErrors) -> list[dict]:
    """Validated, computed line dicts from ``data["line_items"]`` (errors use indexed names)."""
    schema = call.fake.line_schema
    price_key, account_key = SCHEMAS[schema]
    foreign = [key for name, keys in SCHEMAS.items() if name != schema for key in keys]
    lines = []
    for label, item in line_items(data, errors):
        for key in foreign:
            if key in item:
                errors.add(
                    f"{label}.{key}",
                    f"Unknown field; lines take {price_key} and {account_key}.",
                )
        if item.get("quantity") is None:
            errors.add(f"{label}.quantity", "This field is required.")
            quantity = None
        else:
            quantity = v.quantity(item["quantity"], f"{label}.quantity", errors)
        if item.get(price_key) is None:
            errors.add(f"{label}.{price_key}", "This field is required (integer cents).")
            price = None
        else:
            price = v.integer(item, price_key, errors, minimum=0, label=f"{label}.{price_key}")
        account = _account(call, item, account_key, f"{label}.{account_key}", errors)
        discount = v.integer(item, "discount_amount", errors, 0, f"{label}.discount_amount") or 0
        taxes = v.list_of_objects(item, "sales_taxes", errors)
        tax_total = 0
        for t, tax in enumerate(taxes):
            amount = v.integer(tax, "amount", errors, 0, f"{label}.sales_taxes[{t}].amount")
            tax_total += amount or 0
        if quantity is None or price is None:
            continue
        subtotal = v.cents(quantity * price)
        line = {k: item.get(k) for k in KEPT}
        line.update(
            id=call.store.new_id(),
            quantity=str(int(quantity)) if quantity == quantity.to_integral() else str(quantity),
            unit_price=price,
            account_code=account["code"] if account else None,
            account_identifier={"type": "AccountId", "id": account["id"]} if account else None,
            discount_amount=discount,
            sales_taxes=taxes,
            sales_taxes_total=tax_total,
            subtotal=subtotal,
            total_amount=subtotal - discount + tax_total,
        )
        lines.append(line)
    return lines


def _account(call: Call, item: dict, key: str, label: str, errors: FieldErrors) -> dict | None:
    """The ledger account a line names, which must be one of this business's."""
    value = item.get(key)
    if value is None:
        return None
    if key == "account_code":
        account = by_code(call.store, call.business_id, value)
        if account is None:
            errors.add(label, f"No account with code {value!r} in this business's chart.")
        return account
    return account_by_identifier(call, value, label, errors)


def account_by_identifier(call: Call, value: Any, label: str, errors: FieldErrors) -> dict | None:
    """The ledger account an ``{"type": "AccountId", "id"}`` names, which must be one of this
    business's (None and an error under ``label`` otherwise)."""
    if not isinstance(value, dict) or value.get("type") != "AccountId" or not value.get("id"):
        errors.add(label, 'Expected {"type": "AccountId", "id": "<ledger account id>"}.')
        return None
    account = call.store.get("accounts", str(value["id"]), call.business_id)
    if account is None:
        errors.add(label, f"No ledger account {value['id']} in this business.")
    return account


def totals(record: dict[str, Any]) -> None:
    """Recompute ``subtotal``/``total_amount`` of an invoice or bill from its lines."""
    lines = record["line_items"]
    record["subtotal"] = sum(line["subtotal"] for line in lines)
    record["sales_taxes_total"] = sum(line["sales_taxes_total"] for line in lines)
    line_total = sum(line["total_amount"] for line in lines)
    record["total_amount"] = (
        line_total
        - (record.get("additional_discount") or 0)
        + (record.get("additional_sales_taxes_total") or 0)
        + (record.get("tips") or 0)
    )
