"""Line items of invoices and bills: validation and totals (integer cents, half-up).

We read digest §10 q9 as: ``unit_price`` is integer cents (``unit_price_cents``, the guides'
spelling, is accepted as an alias) and ``quantity`` a number or decimal string > 0.
line subtotal = round_half_up(quantity × unit_price); line total = subtotal − discount_amount +
Σ sales_taxes[].amount.
"""

from __future__ import annotations

from typing import Any

from .. import validate as v
from ..errors import FieldErrors
from ..store import Store

KEPT = ("external_id", "description", "account_code", "account_identifier", "product")


def parse_lines(data: dict[str, Any], errors: FieldErrors, store: Store) -> list[dict] | None:
    """Validated, computed line dicts from ``data["line_items"]`` (errors use indexed names)."""
    raw = data.get("line_items")
    if not isinstance(raw, list) or not raw:
        errors.add("line_items", "At least one line item is required.")
        return None
    lines = []
    for n, item in enumerate(raw):
        label = f"line_items[{n}]"
        if not isinstance(item, dict):
            errors.add(label, "Expected an object.")
            continue
        quantity = v.quantity(item.get("quantity", 1), f"{label}.quantity", errors)
        price_key = "unit_price" if "unit_price" in item else "unit_price_cents"
        if item.get(price_key) is None:
            errors.add(f"{label}.unit_price", "This field is required (integer cents).")
            price = None
        else:
            price = v.integer(item, price_key, errors, minimum=0, label=f"{label}.unit_price")
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
            id=store.new_id(),
            quantity=str(int(quantity)) if quantity == quantity.to_integral() else str(quantity),
            unit_price=price,
            discount_amount=discount,
            sales_taxes=taxes,
            sales_taxes_total=tax_total,
            subtotal=subtotal,
            total_amount=subtotal - discount + tax_total,
        )
        lines.append(line)
    return lines


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
