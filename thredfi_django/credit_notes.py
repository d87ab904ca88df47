"""Credit notes: customer credits (against invoices) and vendor credits (against bills).

Bodies follow the reference (digest §3.4, §3.6, §3.9.6): a line carries its ``amount`` in
integer cents and its ledger account as an identifier (``revenue_account_identifier`` /
``expense_account_identifier``: the only form the docs show for credit lines, whatever
``LINE_SCHEMA`` says for invoices); an allocation carries its ``amount`` and the invoice or bill
id. Neither has an update or delete endpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import ledger
from .exceptions import ThredfiLocalValidationError
from .money import from_cents
from .payloads import json_value, related_rows, remote_id
from .validation import check_amount, check_outstanding


@dataclass(frozen=True)
class Kind:
    party: str  # customer / vendor
    date: str  # sent_at / received_at
    account_key: str  # the line's account field
    target: str  # invoice / bill (allocations, and the source document)


KINDS = {
    "customer_credit": Kind("customer", "sent_at", "revenue_account_identifier", "invoice"),
    "vendor_credit": Kind("vendor", "received_at", "expense_account_identifier", "bill"),
}
#: Optional per-line fields sent as they are.
LINE_FIELDS = ("memo", "reference_number")


def build_payload(obj: Any) -> dict[str, Any]:
    """The create body of a customer or vendor credit."""
    kind = KINDS[obj.thredfi_resource]
    payload: dict[str, Any] = {"external_id": obj.get_thredfi_external_id()}
    payload[f"{kind.party}_id"] = remote_id(_fk(obj, kind.party))
    source = _fk(obj, kind.target)
    if source is not None:
        payload[f"source_{kind.target}_id"] = remote_id(source)
    date = json_value(kind.date, obj.get_thredfi_value(kind.date))
    if date:
        payload[kind.date] = date
    lines = related_rows(obj, obj.thredfi_lines_related_name)
    accounts = ledger.line_accounts(obj, lines, schema="reference")
    payload["line_items"] = [
        _line(kind, line, account) for line, account in zip(lines, accounts, strict=True)
    ]
    payload["allocations"] = [
        {
            "amount": json_value("amount_cents", a.get_thredfi_value("amount_cents")),
            f"{kind.target}_id": remote_id(getattr(a, kind.target)),
        }
        for a in related_rows(obj, obj.thredfi_allocations_related_name)
    ]
    return payload


def _fk(obj: Any, resource: str) -> Any:
    field = obj._thredfi_fk_to(resource)
    return getattr(obj, field.name) if field is not None else None


def _line(kind: Kind, line: Any, account: dict[str, Any]) -> dict[str, Any]:
    item: dict[str, Any] = {"amount": json_value("amount_cents", line.get_thredfi_value("amount"))}
    if "account_identifier" in account:
        item[kind.account_key] = account["account_identifier"]
    if kind.party == "customer":
        tax = line.get_thredfi_value("tax_amount_cents")
        if tax is not None:
            item["tax_amount_cents"] = json_value("tax_amount_cents", tax)
    for field in LINE_FIELDS:
        value = line.get_thredfi_value(field)
        if value not in (None, ""):
            item[field] = value
    return item


def validate(obj: Any) -> None:
    """Everything the docs make knowable about a credit note, checked before any request."""
    kind = KINDS[obj.thredfi_resource]
    errors: dict[str, list[str]] = {}

    def add(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    if obj.get_thredfi_business() is None:
        add("business", "No business found: set the foreign key to your business model.")
    if _fk(obj, kind.party) is None:
        add(kind.party, f"A credit note needs a {kind.party} before it can be sent.")
    lines = related_rows(obj, obj.thredfi_lines_related_name)
    if not lines and obj.pk is not None:
        add("line_items", "Add at least one line.")
    total = 0
    for n, line in enumerate(lines):
        total += _cents(f"line_items[{n}].amount", line.get_thredfi_value("amount"), add) or 0
        tax = line.get_thredfi_value("tax_amount_cents")
        if kind.party == "customer" and tax is not None:
            _cents(f"line_items[{n}].tax_amount_cents", tax, add, allow_zero=True)
    business = obj.get_thredfi_business()
    if lines and business is not None and business.thredfi_id:
        try:
            ledger.line_accounts(obj, lines, schema="reference")
        except ThredfiLocalValidationError as err:
            for field, messages in err.field_errors.items():
                errors.setdefault(field, []).extend(messages)
    _check_allocations(obj, kind, total, add)
    if errors:
        raise ThredfiLocalValidationError(
            f"This {obj._meta.verbose_name} cannot be sent to Thredfi as it is.", errors
        )


def _cents(field: str, value: Any, add, *, allow_zero: bool = False) -> int | None:
    if value is None:
        add(field, "Required.")
        return None
    return check_amount(field, value, add, allow_zero=allow_zero)


def _check_allocations(obj: Any, kind: Kind, total: int, add) -> None:
    allocations = related_rows(obj, obj.thredfi_allocations_related_name)
    valid = []
    for n, allocation in enumerate(allocations):
        field = f"allocations[{n}].amount"
        cents = _cents(field, allocation.get_thredfi_value("amount_cents"), add)
        if getattr(allocation, f"{kind.target}_id") is None:
            add(f"allocations[{n}].{kind.target}_id", f"Each allocation needs a {kind.target}.")
        elif cents is not None:
            valid.append((n, allocation, cents))
    if not valid:
        return
    check_outstanding(obj, allocations, valid, kind.target, add, "amount")
    allocated = sum(cents for _, _, cents in valid)
    if allocated > total:
        add(
            "allocations",
            f"The allocations add up to {from_cents(allocated)}, more than the credit note's "
            f"{from_cents(total)}.",
        )
