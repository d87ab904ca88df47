"""Bills and bill payments (§3.5, §3.9.5): vendor → bill → bill payment (ordering).

Bills: PUT replaces the fields sent; ``line_items``, if sent, replace all lines (documented).
The void path is not documented; ``POST bills/{id}/void/`` mirrors invoices. Bill payments are
created ``completed`` (or with the ``status`` sent), count towards their bills unless
``cancelled``/``failed``/``returned``, and may be cancelled (``.../delete/``) only while
``pending`` or ``failed`` (documented) — otherwise 409 ``invalid_state``.
"""

from __future__ import annotations

from typing import Any

from .. import validate as v
from ..errors import FieldErrors, error
from ..listing import filtered, matches_exact, paginate
from ..routes import Call, route
from ..store import Store, public
from .common import existing_for_external_id, get_or_404, render, renderer, resolve_party
from .documents import attach, check_document, rendered
from .lines import parse_lines, totals
from .vendors import render_vendor

BILL_FIELDS = (
    "bill_number", "vendor_bill_number", "purchase_order_number", "memo", "reference_numbers",
    "attachment_urls", "bill_date", "received_at", "due_at", "approved_at", "terms",
)  # fmt: skip
PAYMENT_FIELDS = (
    "payment_reference", "check_number", "description", "memo", "metadata", "payment_method",
    "payment_date", "failure_reason",
)  # fmt: skip
PAYMENT_STATUSES = ("pending", "processing", "completed", "failed", "cancelled", "returned")
INACTIVE = ("failed", "cancelled", "returned")
DOCUMENT_TYPE = "purchase_invoice"
FIXED_PAYMENT_FIELDS = (
    "external_id", "vendor_id", "amount_cents", "currency", "payment_method", "payment_date",
)  # fmt: skip


def bill_paid(store: Store, bill: dict[str, Any]) -> int:
    """What bill payments (not cancelled, failed or returned) and vendor credits have paid."""
    return bill.get("_credited", 0) + sum(
        alloc["amount_cents"]
        for payment in store.existing("bill_payments", bill["_payment_ids"])
        if payment["status"] not in INACTIVE
        for alloc in payment["_allocations"]
        if alloc["bill_id"] == bill["id"]
    )


@renderer("bills")
def render_bill(store: Store, record: dict[str, Any]) -> dict[str, Any]:
    data = public(record)
    vendor = store.tables["vendors"].get(record["vendor_id"])
    data["vendor"] = render_vendor(store, vendor) if vendor else None
    data["documents"] = rendered(record)
    paid = bill_paid(store, record)
    data["paid_amount"] = paid
    data["outstanding_balance"] = record["total_amount"] - paid
    if record.get("voided_at"):
        data["status"] = "voided"
    elif paid > 0:
        data["status"] = "paid" if paid >= record["total_amount"] else "partially_paid"
    else:
        data["status"] = "received"
    data["bill_payment_allocations"] = [
        {
            "bill_payment_id": p["id"],
            "amount_cents": a["amount_cents"],
            "payment_date": p.get("payment_date"),
            "payment_method": p.get("payment_method"),
            "status": p["status"],
        }
        for p in store.existing("bill_payments", record["_payment_ids"])
        for a in p["_allocations"]
        if a["bill_id"] == record["id"]
    ]
    return data


@renderer("bill_payments")
def render_bill_payment(store: Store, record: dict[str, Any]) -> dict[str, Any]:
    data = public(record)
    allocated = sum(a["amount_cents"] for a in record["_allocations"])
    data.update(
        allocated_amount_cents=allocated,
        unallocated_amount_cents=record["amount_cents"] - allocated,
        is_fully_allocated=allocated == record["amount_cents"],
        net_amount_cents=record["amount_cents"] - (record.get("processing_fee_cents") or 0),
    )
    data["allocations"] = []
    for a in record["_allocations"]:
        bill = store.tables["bills"].get(a["bill_id"])
        data["allocations"].append(
            {
                "id": a["id"],
                "bill_id": a["bill_id"],
                "bill_number": bill["bill_number"] if bill else None,
                "vendor_bill_number": bill.get("vendor_bill_number") if bill else None,
                "bill_status": render_bill(store, bill)["status"] if bill else None,
                "amount_cents": a["amount_cents"],
                "description": a.get("description"),
                "created_at": record["created_at"],
            }
        )
    return data


def _check_bill(data: dict, errors: FieldErrors) -> None:
    v.string(data, "external_id", errors, max_length=255, min_length=1)
    v.string(data, "bill_number", errors, max_length=255)
    v.choice(data, "currency", v.CURRENCIES, errors)
    v.date_value(data, "bill_date", errors)
    for name in ("received_at", "due_at", "approved_at"):
        v.datetime_value(data, name, errors)


@route("POST", "/businesses/{business_id}/bills/")
def create_bill(call: Call):
    data, errors, store = call.body(), FieldErrors(), call.store
    _check_bill(data, errors)
    lines = parse_lines(call, data, errors)
    document = check_document(data, errors, DOCUMENT_TYPE)
    errors.raise_if_any()
    existing = existing_for_external_id(call, "bills", call.business_id, "bill")
    if existing is not None:
        return 200, render_bill(call.store, existing)
    vendor = resolve_party(call, data, errors, "vendor")
    errors.raise_if_any()
    record = {name: data.get(name) for name in BILL_FIELDS}
    record.update(
        type="Bill",
        id=store.new_id(),
        business_id=call.business_id,
        external_id=str(data["external_id"]) if data.get("external_id") else None,
        bill_number=data.get("bill_number") or f"BILL-{store.next_number():05d}",
        issue_date=data.get("bill_date"),
        currency=data.get("currency") or call.business["base_currency"],
        vendor_id=vendor["id"],
        line_items=lines,
        voided_at=None,
        paid_at=None,
        _payment_ids=[],
    )
    attach(call, record, document, DOCUMENT_TYPE)
    totals(record)
    store.insert("bills", record, call.business_id)
    return 201, render_bill(store, record)


@route("GET", "/businesses/{business_id}/bills/")
def list_bills(call: Call):
    def keep(record: dict[str, Any]) -> bool:
        return matches_exact(call.query, record, "external_id", "vendor_id", "bill_number")

    records = filtered(call.store.all("bills", call.business_id), keep)
    return 200, paginate(call, records, lambda r: render(call, "bills", r))


@route("GET", "/businesses/{business_id}/bills/{bill_id}/")
def get_bill(call: Call):
    return 200, render(call, "bills", get_or_404(call, "bills", "bill_id", "bill"))


@route("PUT", "/businesses/{business_id}/bills/{bill_id}/")
def update_bill(call: Call):
    record = get_or_404(call, "bills", "bill_id", "bill")
    if record.get("voided_at"):
        raise error(409, "invalid_state", "A voided bill cannot be changed.")
    data, errors, store = call.body(), FieldErrors(), call.store
    _check_bill(data, errors)
    vendor = resolve_party(call, data, errors, "vendor", required=False)
    lines = parse_lines(call, data, errors) if "line_items" in data else None
    document = check_document(data, errors, DOCUMENT_TYPE)
    new_external_id = data.get("external_id")
    changed_id = new_external_id not in (None, "") and str(new_external_id) != record["external_id"]
    if changed_id and store.by_external_id("bills", call.business_id, new_external_id):
        errors.add("external_id", "Another bill in this business has this external_id.")
    errors.raise_if_any()
    for name in (*BILL_FIELDS, "currency"):
        if name in data:
            record[name] = data[name]
    if vendor is not None:
        record["vendor_id"] = vendor["id"]
    if lines is not None:
        record["line_items"] = lines
        totals(record)
    attach(call, record, document, DOCUMENT_TYPE)
    if changed_id:
        old, record["external_id"] = record["external_id"], str(new_external_id)
        store.reindex("bills", record, old)
    store.touch(record)
    return 200, render_bill(store, record)


@route("POST", "/businesses/{business_id}/bills/{bill_id}/void/")
def void_bill(call: Call):
    record = get_or_404(call, "bills", "bill_id", "bill")
    if not record.get("voided_at"):
        if bill_paid(call.store, record) > 0:
            raise error(409, "invalid_state", "A bill with payments cannot be voided.")
        record["voided_at"] = call.store.now()
        call.store.touch(record)
    return 200, render_bill(call.store, record)


def _allocations(call: Call, data: dict, errors: FieldErrors, payment_id: str | None) -> list:
    store, allocations = call.store, []
    for n, alloc in enumerate(v.list_of_objects(data, "allocations", errors)):
        label = f"allocations[{n}]"
        bill = store.get("bills", str(alloc.get("bill_id")), call.business_id)
        if bill is None:
            errors.add(
                f"{label}.bill_id",
                f"Bill {alloc.get('bill_id')} does not exist in this "
                "business. Create the bill first.",
            )
        if alloc.get("amount_cents") is None:
            errors.add(f"{label}.amount_cents", "This field is required.")
            continue
        amount = v.integer(alloc, "amount_cents", errors, 1, f"{label}.amount_cents")
        if bill is None or amount is None:
            continue
        # On PATCH the payment's own current allocations are being replaced: count them free.
        current = store.tables["bill_payments"].get(payment_id) if payment_id else None
        mine = 0
        if current is not None and current["status"] not in INACTIVE:
            mine = sum(
                a["amount_cents"] for a in current["_allocations"] if a["bill_id"] == bill["id"]
            )
        outstanding = bill["total_amount"] - bill_paid(store, bill) + mine
        if bill.get("voided_at"):
            errors.add(f"{label}.bill_id", f"Bill {bill['id']} is voided.")
        elif amount > outstanding:
            errors.add(
                f"{label}.amount_cents",
                f"Amount {amount} exceeds the bill's outstanding balance {outstanding}.",
            )
        allocations.append(
            {
                "id": store.new_id(),
                "bill_id": bill["id"],
                "amount_cents": amount,
                "description": alloc.get("description"),
            }
        )
    return allocations


def _link(store: Store, payment: dict[str, Any]) -> None:
    for alloc in payment["_allocations"]:
        bill = store.tables["bills"].get(alloc["bill_id"])
        if bill is None:
            continue
        if payment["id"] not in bill["_payment_ids"]:
            bill["_payment_ids"].append(payment["id"])
        store.touch(bill)


@route("POST", "/businesses/{business_id}/bills/payments/", auth="business_token")
def create_bill_payment(call: Call):
    data, errors, store = call.body(), FieldErrors(), call.store
    v.required(data, ("vendor_id", "amount_cents"), errors)
    amount = v.integer(data, "amount_cents", errors, minimum=1)
    v.integer(data, "processing_fee_cents", errors, minimum=0)
    v.choice(data, "currency", v.CURRENCIES, errors)
    v.choice(data, "status", PAYMENT_STATUSES, errors)
    v.date_value(data, "payment_date", errors)
    v.string(data, "external_id", errors, max_length=255, min_length=1)
    for n, alloc in enumerate(v.list_of_objects(data, "allocations", errors)):
        if alloc.get("amount_cents") is None:
            errors.add(f"allocations[{n}].amount_cents", "This field is required.")
        else:
            v.integer(alloc, "amount_cents", errors, 1, f"allocations[{n}].amount_cents")
    errors.raise_if_any()
    existing = existing_for_external_id(call, "bill_payments", call.business_id, "bill payment")
    if existing is not None:
        return 200, render_bill_payment(call.store, existing)
    vendor = resolve_party(call, data, errors, "vendor")
    allocations = _allocations(call, data, errors, None)
    allocated = sum(a["amount_cents"] for a in allocations)
    if amount is not None and allocated > amount:
        errors.add("allocations", f"Allocations ({allocated}) exceed amount_cents ({amount}).")
    errors.raise_if_any()
    now = store.now()
    record = {name: data.get(name) for name in PAYMENT_FIELDS}
    record.update(
        id=store.new_id(),
        business_id=call.business_id,
        vendor_id=vendor["id"],
        vendor_name=vendor.get("company_name") or vendor.get("individual_name"),
        external_id=str(data["external_id"]) if data.get("external_id") else None,
        amount_cents=amount,
        currency=data.get("currency") or call.business["base_currency"],
        processing_fee_cents=data.get("processing_fee_cents") or 0,
        status=data.get("status") or "completed",
        payment_date=data.get("payment_date") or store.today(),
        metadata=data.get("metadata") or {},
        submitted_at=now,
        completed_at=now if (data.get("status") or "completed") == "completed" else None,
        _allocations=allocations,
    )
    store.insert("bill_payments", record, call.business_id)
    _link(store, record)
    return 201, render_bill_payment(store, record)


@route("GET", "/businesses/{business_id}/bills/payments/", auth="business_token")
def list_bill_payments(call: Call):
    def keep(record: dict[str, Any]) -> bool:
        fields = ("external_id", "status", "vendor_id", "payment_method")
        if not matches_exact(call.query, record, *fields):
            return False
        bill_id = call.query.get("bill_id")
        return not bill_id or any(a["bill_id"] == bill_id for a in record["_allocations"])

    records = filtered(call.store.all("bill_payments", call.business_id), keep)
    return 200, paginate(call, records, lambda r: render(call, "bill_payments", r))


@route("GET", "/businesses/{business_id}/bills/payments/{bill_payment_id}/", auth="business_token")
def get_bill_payment(call: Call):
    record = get_or_404(call, "bill_payments", "bill_payment_id", "bill payment")
    return 200, render(call, "bill_payments", record)


@route(
    "PATCH", "/businesses/{business_id}/bills/payments/{bill_payment_id}/", auth="business_token"
)
def update_bill_payment(call: Call):
    record = get_or_404(call, "bill_payments", "bill_payment_id", "bill payment")
    data, errors, store = call.body(), FieldErrors(), call.store
    for name in FIXED_PAYMENT_FIELDS:
        if name in data and data[name] != record.get(name):
            errors.add(name, f"{name} cannot be changed on a bill payment.")
    v.choice(data, "status", PAYMENT_STATUSES, errors)
    v.integer(data, "processing_fee_cents", errors, minimum=0)
    allocations = _allocations(call, data, errors, record["id"]) if "allocations" in data else None
    if allocations is not None:
        allocated = sum(a["amount_cents"] for a in allocations)
        if allocated > record["amount_cents"]:
            errors.add(
                "allocations",
                f"Allocations ({allocated}) exceed amount_cents ({record['amount_cents']}).",
            )
    errors.raise_if_any()
    for name in (
        "status",
        "failure_reason",
        "payment_reference",
        "check_number",
        "description",
        "memo",
        "processing_fee_cents",
        "metadata",
    ):
        if name in data:
            record[name] = data[name]
    if allocations is not None:
        record["_allocations"] = allocations
        _link(store, record)
    store.touch(record)
    return 200, render_bill_payment(store, record)


@route(
    "POST",
    "/businesses/{business_id}/bills/payments/{bill_payment_id}/delete/",
    auth="business_token",
)
def cancel_bill_payment(call: Call):
    record = get_or_404(call, "bill_payments", "bill_payment_id", "bill payment")
    if record["status"] not in ("pending", "failed"):
        raise error(
            409,
            "invalid_state",
            f"Only pending or failed bill payments can be cancelled; this one is "
            f"{record['status']}.",
        )
    record["status"] = "cancelled"
    call.store.touch(record)
    return 200, {
        "message": "Bill payment cancelled.",
        "payment_id": record["id"],
        "status": record["status"],
        "updated_at": record["updated_at"],
    }
