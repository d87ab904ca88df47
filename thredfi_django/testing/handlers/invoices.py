"""Invoices (§3.3, §3.9.3): create, list, get, PUT, void; totals and outstanding balance.

Status is lowercase (digest §10 q10: the widget filters with lowercase values): ``sent``,
``partially_paid``, ``paid``, ``voided``. Voiding a voided invoice is a no-op 200; voiding an
invoice that has payments is a 409 ``invalid_state`` (a state conflict, per the error guide's
409) — refund or reallocate first.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from .. import validate as v
from ..errors import FieldErrors, error
from ..listing import filtered, in_csv, matches_exact, paginate
from ..routes import Call, route
from ..store import Store, public
from .common import existing_for_external_id, get_or_404, render, renderer, resolve_party
from .customers import render_customer
from .documents import attach, check_document, rendered
from .lines import parse_lines, totals

SCALARS = (
    "invoice_number", "invoice_type", "memo", "sent_at", "due_at", "tips_account",
    "transaction_tags", "metadata", "additional_sales_taxes",
)  # fmt: skip
AMOUNTS = ("additional_discount", "additional_sales_taxes_total", "tips")
DOCUMENT_TYPE = "sales_invoice"


@renderer("invoices")
def render_invoice(store: Store, record: dict[str, Any]) -> dict[str, Any]:
    data = public(record)
    customer = store.tables["customers"].get(record["customer_id"])
    data["customer"] = render_customer(store, customer) if customer else None
    data["is_overdue"] = _overdue(store, record)
    data["documents"] = rendered(record)
    return data


def _overdue(store: Store, record: dict[str, Any]) -> bool:
    due = record.get("due_at")
    if not due or record["status"] in ("paid", "voided"):
        return False
    try:
        text = str(due)
        moment = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except ValueError:
        return False
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp() < store.clock()


def refresh(store: Store, record: dict[str, Any]) -> None:
    """Outstanding balance and status from total, payments and write-offs; the customer's
    balance too."""
    record["outstanding_balance"] = (
        record["total_amount"] - record["paid_amount"] - record.get("written_off_amount", 0)
    )
    if record.get("voided_at"):
        record["status"] = "voided"
    elif record["paid_amount"] > 0 and record["outstanding_balance"] <= 0:
        record["status"] = "paid"
    elif record["paid_amount"] > 0:
        record["status"] = "partially_paid"
    else:
        record["status"] = "sent"
    if record["status"] != "paid":
        record["paid_at"] = None
    # Kept incrementally: summing every invoice of a customer per render made lists O(n²).
    counted = 0 if record.get("voided_at") else record["outstanding_balance"]
    customer = store.tables["customers"].get(record["customer_id"])
    if customer is not None:
        customer["_outstanding"] += counted - record.get("_counted", 0)
    record["_counted"] = counted


def apply_payment(store: Store, invoice: dict[str, Any], amount: int) -> None:
    """Record ``amount`` cents paid (negative to reverse)."""
    invoice["paid_amount"] += amount
    refresh(store, invoice)
    if invoice["status"] == "paid" and not invoice.get("paid_at"):
        invoice["paid_at"] = store.now()
    store.touch(invoice)


def _check_fields(call: Call, data: dict, errors: FieldErrors) -> None:
    v.string(data, "external_id", errors, max_length=255, min_length=1)
    v.string(data, "invoice_number", errors, max_length=255)
    v.string(data, "memo", errors, max_length=5000)
    for name in ("sent_at", "due_at", "voided_at"):
        v.datetime_value(data, name, errors)
    for name in AMOUNTS:
        v.integer(data, name, errors, minimum=0)
    currency = data.get("currency")
    if currency not in (None, "") and currency != call.business["base_currency"]:
        errors.add(
            "currency",
            f"Invoice currency must be the business base currency "
            f"{call.business['base_currency']}.",
        )


@route("POST", "/businesses/{business_id}/invoices/")
def create_invoice(call: Call):
    data, errors, store = call.body(), FieldErrors(), call.store
    _check_fields(call, data, errors)
    lines = parse_lines(call, data, errors)
    document = check_document(data, errors, DOCUMENT_TYPE)
    errors.raise_if_any()
    existing = existing_for_external_id(call, "invoices", call.business_id, "invoice")
    if existing is not None:
        return 200, render_invoice(call.store, existing)
    customer = resolve_party(call, data, errors, "customer")
    errors.raise_if_any()
    number = store.next_number()
    record = {name: data.get(name) for name in SCALARS}
    record.update(
        {name: data.get(name) or 0 for name in AMOUNTS},
        type="Invoice",
        id=store.new_id(),
        business_id=call.business_id,
        external_id=str(data["external_id"]) if data.get("external_id") else None,
        invoice_number=data.get("invoice_number") or f"INV-{number:05d}",
        invoice_type=data.get("invoice_type") or "invoice",
        currency=call.business["base_currency"],
        customer_id=customer["id"],
        line_items=lines,
        transaction_tags=data.get("transaction_tags") or [],
        additional_sales_taxes=data.get("additional_sales_taxes") or [],
        metadata=data.get("metadata") or {},
        voided_at=data.get("voided_at") or None,
        paid_amount=0,
        paid_at=None,
        refunded_amount=0,
        payments=[],
    )
    attach(call, record, document, DOCUMENT_TYPE)
    totals(record)
    refresh(store, record)
    store.insert("invoices", record, call.business_id)
    return 201, render_invoice(store, record)


@route("GET", "/businesses/{business_id}/invoices/")
def list_invoices(call: Call):
    query = call.query
    statuses = {s.strip().lower() for s in query.get("status", "").split(",") if s.strip()}
    if "unpaid" in statuses:
        statuses |= {"sent", "partially_paid"}
    store = call.store

    def keep(record: dict[str, Any]) -> bool:
        if not matches_exact(query, record, "external_id", "invoice_number"):
            return False
        if not in_csv(query, "customer_id", record["customer_id"]):
            return False
        if statuses and record["status"] not in statuses:
            return False
        wanted = query.get("customer_external_id")
        if wanted:
            customer = store.tables["customers"].get(record["customer_id"]) or {}
            return customer.get("external_id") == wanted
        return True

    records = filtered(store.all("invoices", call.business_id), keep)
    return 200, paginate(call, records, lambda r: render(call, "invoices", r))


@route("GET", "/businesses/{business_id}/invoices/{invoice_id}/")
def get_invoice(call: Call):
    return 200, render(call, "invoices", get_or_404(call, "invoices", "invoice_id", "invoice"))


@route("PUT", "/businesses/{business_id}/invoices/{invoice_id}/")
def update_invoice(call: Call):
    """Fields sent replace the stored ones; ``line_items``, if sent, replace all lines."""
    record = get_or_404(call, "invoices", "invoice_id", "invoice")
    if record.get("voided_at"):
        raise error(409, "invalid_state", "A voided invoice cannot be changed.")
    data, errors, store = call.body(), FieldErrors(), call.store
    _check_fields(call, data, errors)
    customer = None
    if data.get("customer_id") or data.get("customer_external_id"):
        customer = resolve_party(call, data, errors, "customer")
    lines = parse_lines(call, data, errors) if "line_items" in data else None
    document = check_document(data, errors, DOCUMENT_TYPE)
    new_external_id = data.get("external_id")
    if new_external_id not in (None, "") and str(new_external_id) != record.get("external_id"):
        other = store.by_external_id("invoices", call.business_id, new_external_id)
        if other is not None:
            errors.add("external_id", "Another invoice in this business has this external_id.")
    errors.raise_if_any()
    for name in (*SCALARS, *AMOUNTS):
        if name in data:
            record[name] = data[name]
    if lines is not None:
        record["line_items"] = lines
    attach(call, record, document, DOCUMENT_TYPE)
    if customer is not None and customer["id"] != record["customer_id"]:
        old = store.tables["customers"].get(record["customer_id"])
        if old is not None:
            old["_outstanding"] -= record["_counted"]
        record["_counted"] = 0
        record["customer_id"] = customer["id"]
    if new_external_id not in (None, "") and str(new_external_id) != record.get("external_id"):
        old_external_id = record.get("external_id")
        record["external_id"] = str(new_external_id)
        store.reindex("invoices", record, old_external_id)
    totals(record)
    refresh(store, record)
    store.touch(record)
    return 200, render_invoice(store, record)


@route("POST", "/businesses/{business_id}/invoices/{invoice_id}/void/")
def void_invoice(call: Call):
    record = get_or_404(call, "invoices", "invoice_id", "invoice")
    if record.get("voided_at"):
        return 200, render_invoice(call.store, record)
    if record["paid_amount"] > 0:
        raise error(
            409,
            "invalid_state",
            f"Invoice {record['id']} has payments ({record['paid_amount']} cents) and cannot be "
            "voided; refund or reallocate them first.",
        )
    record["voided_at"] = call.store.now()
    refresh(call.store, record)
    call.store.touch(record)
    return 200, render_invoice(call.store, record)


def invoice_or_error(call: Call, invoice_id: Any, label: str, errors: FieldErrors) -> dict | None:
    """An invoice of this business for a body reference, else a field error (ordering rule)."""
    invoice = call.store.get("invoices", str(invoice_id), call.business_id) if invoice_id else None
    if invoice is None:
        errors.add(label, f"Invoice {invoice_id} does not exist in this business.")
    return invoice
