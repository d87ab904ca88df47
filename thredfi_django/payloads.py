"""Default request bodies per Thredfi resource, and the tables validation.py checks them by.

Field names follow the API reference (docs/thredfi-api.md). Where the docs contradict
each other (§10):
- invoice/bill lines follow ``THREDFI['LINE_SCHEMA']``, one of the two documented schemas, never
  a mix: "guide" sends ``unit_price_cents`` + ``account_code``, "reference" ``unit_price`` (in
  integer cents, as Layer's equivalent) + ``account_identifier`` (``ledger.py``);
- ``sent_at``/``due_at``/``completed_at``/``received_at`` are date-times (``…T00:00:00Z`` when the
  host stores a date); ``payment_date``/``bill_date``/``fiscal_year_end`` are dates;
- invoices carry ``currency`` (guides send it; the reference omits it) so the server can reject a
  mismatch instead of silently booking in the base currency.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from . import attachments, ledger, money
from .conf import thredfi_settings
from .exceptions import ThredfiLocalValidationError

#: Scalar remote fields per resource (relations and lines are added by build_payload).
FIELDS: dict[str, tuple[str, ...]] = {
    "business": (
        "legal_name", "entity_type", "email", "phone_number", "tin", "vat_number",
        "company_number", "country", "province", "eu_nace_industry_code", "base_currency",
        "accounting_method", "fiscal_year_end", "metadata",
    ),
    "customer": (
        "individual_name", "company_name", "email", "mobile_phone", "office_phone",
        "address_line1", "address_line2", "city", "state_county", "postal_code", "country",
        "vat_number", "tax_exempt", "reference_number", "notes", "payment_terms_days",
        "metadata",
    ),
    "invoice": (
        "invoice_number", "invoice_type", "sent_at", "due_at", "memo", "currency", "metadata",
    ),
    "payment": (
        "total_amount_cents", "payment_date", "currency", "payment_method", "payment_reference",
        "note", "payment_processor", "processing_fee_cents", "metadata",
    ),
    "refund": ("amount_cents", "method", "completed_at", "memo", "reference_number", "processor"),
    "refund_payment": ("amount_cents", "method", "completed_at", "processor", "memo"),
    "vendor": (
        "individual_name", "company_name", "email", "mobile_phone", "office_phone", "memo",
        "country", "vat_number",
    ),
    "bill": (
        "bill_number", "vendor_bill_number", "purchase_order_number", "memo", "bill_date",
        "received_at", "due_at", "currency",
    ),
    "bill_payment": (
        "amount_cents", "currency", "payment_method", "payment_date", "payment_reference",
        "check_number", "description", "memo", "processing_fee_cents", "metadata",
    ),
    "write_off": ("amount_cents", "write_off_at", "memo"),
    "vendor_refund": (
        "total_refunded_amount_cents", "currency", "reference_number", "refund_type",
        "refund_date", "description", "memo", "reason", "metadata",
    ),
    "payout": (
        "processor", "processor_payout_id", "paid_out_amount_cents", "fee_cents",
        "additional_refunds_amount_cents", "currency", "status", "completed_at",
        "reference_number", "memo", "metadata",
    ),
}  # fmt: skip
#: Amounts that may be 0 (everything else in cents must be positive).
ZERO_ALLOWED = {
    "processing_fee_cents", "paid_out_amount_cents", "fee_cents",
    "additional_refunds_amount_cents",
}  # fmt: skip

#: Remote id fields filled from a foreign key to another synced resource.
RELATIONS: dict[str, dict[str, str]] = {
    "invoice": {"customer_id": "customer"},
    "payment": {"customer_id": "customer"},
    "refund": {"invoice_id": "invoice"},
    "bill": {"vendor_id": "vendor"},
    "bill_payment": {"vendor_id": "vendor"},
    "write_off": {"invoice_id": "invoice"},
    "vendor_refund": {"vendor_id": "vendor"},
}


@dataclass(frozen=True)
class Allocations:
    """How a resource's allocations are sent and checked."""

    target: str  # invoice / bill
    total_field: str  # what they may not exceed together
    bounded: bool  # each at most what its target has outstanding (not for refunds)
    extra: tuple[tuple[str, str], ...] = ()  # constant keys sent with each


ALLOCATIONS = {
    "payment": Allocations("invoice", "total_amount_cents", True),
    "bill_payment": Allocations("bill", "amount_cents", True),
    "vendor_refund": Allocations("bill", "total_refunded_amount_cents", False,
                                 (("allocation_type", "bill"),)),
}  # fmt: skip
#: Ledger accounts sent as {"type": "AccountId", "id"}: resource -> remote field. The code is the
#: object's ``account_code``, else THREDFI['ACCOUNT_CODES'][resource]; none: not sent.
ACCOUNT_FIELDS = {"write_off": "destination_account"}
#: Lists of remote ids: remote field -> the mixin attribute naming the related objects.
LIST_RELATIONS: dict[str, dict[str, str]] = {
    "payout": {
        "payment_ids": "thredfi_payments_related_name",
        "refund_payment_ids": "thredfi_refund_payments_related_name",
    },
}
#: Host fields read per line (the account is ledger.py's, the price key the schema's).
LINE_FIELDS = ("description", "quantity", "unit_price")
#: Fields the update endpoint does not accept (business PATCH: §3.1; bill payment PATCH: §3.5).
NOT_UPDATABLE: dict[str, tuple[str, ...]] = {
    "business": ("external_id", "country", "base_currency"),
    "bill_payment": (
        "external_id",
        "vendor_id",
        "amount_cents",
        "currency",
        "payment_method",
        "payment_date",
    ),
}
DATETIME_FIELDS = {
    "sent_at", "due_at", "completed_at", "received_at", "approved_at", "write_off_at",
}  # fmt: skip
DATE_FIELDS = {"payment_date", "bill_date", "fiscal_year_end", "refund_date"}
#: Documented maximum lengths (§3.1, §3.9).
MAX_LENGTHS = {
    "external_id": 255, "legal_name": 255, "vat_number": 20, "company_number": 20,
    "province": 100, "eu_nace_industry_code": 10, "payment_processor": 100, "currency": 3,
    "invoice_number": 255, "bill_number": 255, "email": 254,
}  # fmt: skip
CURRENCIES = {"EUR", "GBP", "USD", "SEK", "NOK", "DKK", "ISK", "MYR", "SGD"}
REQUIRED = {
    "business": ("legal_name", "entity_type", "email"),
    "invoice": ("sent_at", "due_at"),
    "payment": ("total_amount_cents", "payment_date", "currency"),
    "refund": ("completed_at",),
    "refund_payment": ("amount_cents", "completed_at"),
    "bill": ("bill_date", "currency"),
    "bill_payment": ("amount_cents", "currency", "payment_date"),
    "payout": ("processor", "paid_out_amount_cents"),
    "write_off": ("amount_cents", "write_off_at"),
    "vendor_refund": ("total_refunded_amount_cents", "currency"),
}


def to_cents(value: Any, field: str) -> int:
    """Decimal major units -> integer cents; more than 2 decimals is an error, not rounding."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = Decimal(value)
    try:
        return money.to_cents(value, strict=True)
    except (ValueError, ArithmeticError, TypeError) as err:
        raise _field_error(field, str(err)) from None


def _field_error(field: str, message: str) -> ThredfiLocalValidationError:
    return ThredfiLocalValidationError("Cannot be sent to Thredfi.", {field: [message]})


def json_value(field: str, value: Any) -> Any:
    """A host value as Thredfi takes it: cents for amounts, ISO dates, strings for UUIDs."""
    if value is None:
        return None
    if field.endswith("_cents") or field == "unit_price":
        return to_cents(value, field)
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc)
        return value.replace(tzinfo=None).isoformat(timespec="seconds") + "Z"
    if isinstance(value, dt.date):
        return f"{value.isoformat()}T00:00:00Z" if field in DATETIME_FIELDS else value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else str(value.normalize())
    if hasattr(value, "hex") and type(value).__name__ == "UUID":
        return str(value)
    return value


def related_rows(obj: Any, related_name: str) -> list[Any]:
    """``obj.<related_name>.all()``, served from the prefetch cache when there is one."""
    if obj.pk is None:
        return []
    manager = getattr(obj, related_name, None)
    return list(manager.all()) if manager is not None else []


def remote_id(obj: Any) -> str | None:
    """The Thredfi ID of a synced object, as a string (None when it has none yet)."""
    return str(obj.thredfi_id) if obj is not None and obj.thredfi_id else None


def build_payload(obj: Any) -> dict[str, Any]:
    """The default create body for a synced object (see ThredfiSyncMixin.get_thredfi_payload)."""
    resource = obj.thredfi_resource
    payload: dict[str, Any] = {"external_id": obj.get_thredfi_external_id()}
    for field in FIELDS[resource]:
        value = json_value(field, obj.get_thredfi_value(field))
        if value is not None and value != "":
            payload[field] = enum_case(resource, field, value)
    for remote_field, target in RELATIONS.get(resource, {}).items():
        fk = obj._thredfi_fk_to(target)
        related = getattr(obj, fk.name) if fk is not None else None
        payload[remote_field] = remote_id(related)
    if resource in ACCOUNT_FIELDS:
        account = ledger.object_account(obj)
        if account is not None:
            payload[ACCOUNT_FIELDS[resource]] = account
    for remote_field, attribute in LIST_RELATIONS.get(resource, {}).items():
        related = related_rows(obj, getattr(obj, attribute))
        payload[remote_field] = [remote_id(item) for item in related]
    lines_name = getattr(obj, "thredfi_lines_related_name", None)
    if lines_name:
        lines = related_rows(obj, lines_name)
        accounts = ledger.line_accounts(obj, lines)
        payload["line_items"] = [
            {**_line(obj, line), **account} for line, account in zip(lines, accounts, strict=True)
        ]
    document = attachments.document_field(obj)
    if document is not None:
        payload["document"] = document
    alloc_name = getattr(obj, "thredfi_allocations_related_name", None)
    if alloc_name:
        rule = ALLOCATIONS[resource]
        payload["allocations"] = [
            {
                **dict(rule.extra),
                f"{rule.target}_id": remote_id(getattr(a, rule.target)),
                "amount_cents": json_value("amount_cents", a.get_thredfi_value("amount_cents")),
            }
            for a in related_rows(obj, alloc_name)
        ]
    return payload


#: Enum casing per the reference (§8): refund methods are upper case, payment methods lower,
#: currencies ISO-4217 upper case.
UPPER_CASE_ENUMS = {("refund", "method"), ("refund_payment", "method")}
LOWER_CASE_ENUMS = {("payment", "payment_method"), ("bill_payment", "payment_method")}


def enum_case(resource: str, field: str, value: Any) -> Any:
    """``value`` in the case Thredfi documents for ``field`` of ``resource``."""
    if not isinstance(value, str):
        return value
    if (resource, field) in UPPER_CASE_ENUMS or field in ("currency", "base_currency"):
        return value.upper()
    if (resource, field) in LOWER_CASE_ENUMS:
        return value.lower()
    return value


def _line(parent: Any, line: Any) -> dict[str, Any]:
    item = {"external_id": f"{parent.get_thredfi_external_id()}:line:{line.pk}"}
    price_key = "unit_price" if thredfi_settings.LINE_SCHEMA == "reference" else "unit_price_cents"
    for field in LINE_FIELDS:
        value = json_value(field, line.get_thredfi_value(field))
        if value is not None and value != "":
            item[price_key if field == "unit_price" else field] = value
    return item


def build_update_payload(obj: Any) -> dict[str, Any]:
    """The create body without the fields the update endpoint refuses."""
    payload = obj.get_thredfi_payload()
    for field in NOT_UPDATABLE.get(obj.thredfi_resource, ()):
        payload.pop(field, None)
    return payload
