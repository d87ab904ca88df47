"""Invoice payments (§3.4, §3.9.4): ``POST/GET /businesses/{b}/invoices/payments/``.

Idempotent twice over: ``Idempotency-Key`` (replayed by the dispatcher, see fake.py) and
``external_id`` (repeat → 200 with the existing payment, or 409 in ``duplicate_mode "409"``).
Create answers ``{"payment": {...}}``; GET and list give the payment itself.
"""

from __future__ import annotations

from typing import Any

from .. import validate as v
from ..errors import FieldErrors
from ..listing import filtered, in_csv, matches_exact, paginate
from ..routes import Call, route
from ..store import Store, public
from .common import existing_for_external_id, get_or_404, render, renderer
from .customers import customer_summary
from .invoices import apply_payment, invoice_or_error

KEPT = (
    "payment_date", "payment_method", "payment_reference", "note", "notes", "metadata",
    "references", "processing_fee_cents", "payment_processor",
)  # fmt: skip


@renderer("payments")
def render_payment(store: Store, record: dict[str, Any]) -> dict[str, Any]:
    data = public(record)
    customer = store.tables["customers"].get(record["customer_id"])
    if customer:
        data["customer"] = customer_summary(store, customer)
        data["customer_name"] = data["customer"]["name"]
        data["customer_email"] = customer.get("email")
    applied, allocations = [], []
    for alloc in record["_allocations"]:
        invoice = store.tables["invoices"].get(alloc["invoice_id"])
        if invoice is None:  # removed with remove_record()
            continue
        applied.append(
            {
                "id": invoice["id"],
                "invoice_number": invoice["invoice_number"],
                "applied_amount_cents": alloc["amount_cents"],
                "status": invoice["status"],
                "outstanding_amount_cents": invoice["outstanding_balance"],
            }
        )
        allocations.append(
            {
                "id": alloc["id"],
                "invoice_id": invoice["id"],
                "invoice_number": invoice["invoice_number"],
                "invoice_status": invoice["status"],
                "amount": alloc["amount_cents"],
                "amount_cents": alloc["amount_cents"],
                "allocated_at": record["created_at"],
            }
        )
    data["applied_invoices"] = applied
    data["allocations"] = allocations
    return data


def _check_body(call: Call, data: dict, errors: FieldErrors) -> None:
    """What the body alone says is wrong (checked before a repeated external_id is looked up)."""
    v.required(data, ("customer_id", "total_amount_cents"), errors)
    total = v.integer(data, "total_amount_cents", errors, minimum=1)
    v.integer(data, "processing_fee_cents", errors, minimum=0)
    v.string(data, "external_id", errors, max_length=255, min_length=1)
    v.string(data, "payment_processor", errors, max_length=100)
    v.choice(data, "payment_method", v.PAYMENT_METHODS, errors)
    v.date_value(data, "payment_date", errors)
    currency = data.get("currency")
    base = call.business["base_currency"]
    if currency not in (None, "") and currency != base:
        errors.add("currency", f"Currency must match the business base currency ({base}).")
    allocated = 0
    for n, alloc in enumerate(v.list_of_objects(data, "allocations", errors)):
        label = f"allocations[{n}]"
        if alloc.get("invoice_id") in (None, ""):
            errors.add(f"{label}.invoice_id", "This field is required.")
        if alloc.get("amount_cents") is None:
            errors.add(f"{label}.amount_cents", "This field is required.")
            continue
        allocated += v.integer(alloc, "amount_cents", errors, 1, f"{label}.amount_cents") or 0
    if total is not None and allocated > total:
        errors.add("allocations", f"Allocations ({allocated}) exceed total_amount_cents ({total}).")


def _check_records(call: Call, data: dict, errors: FieldErrors) -> tuple[dict | None, list]:
    """The customer and invoices the body names, which must exist and be payable."""
    customer = call.store.get("customers", str(data["customer_id"]), call.business_id)
    if customer is None:
        errors.add(
            "customer_id",
            f"Customer {data['customer_id']} does not exist in this business. "
            "Create the customer first.",
        )
    allocations = []
    for n, alloc in enumerate(data.get("allocations") or []):
        label = f"allocations[{n}]"
        invoice = invoice_or_error(call, alloc["invoice_id"], f"{label}.invoice_id", errors)
        amount = alloc["amount_cents"]
        if invoice is None:
            continue
        if invoice.get("voided_at"):
            errors.add(f"{label}.invoice_id", f"Invoice {invoice['id']} is voided.")
        elif amount > invoice["outstanding_balance"]:
            errors.add(
                f"{label}.amount_cents",
                f"Amount {amount} exceeds the invoice's outstanding balance "
                f"{invoice['outstanding_balance']}.",
            )
        allocations.append((invoice, amount))
    return customer, allocations


@route("POST", "/businesses/{business_id}/invoices/payments/", idempotency_key=True)
def create_payment(call: Call):
    data, errors, store = call.body(), FieldErrors(), call.store
    _check_body(call, data, errors)
    errors.raise_if_any()
    existing = existing_for_external_id(call, "payments", call.business_id, "payment")
    if existing is not None:
        return 200, {"payment": render_payment(call.store, existing)}
    customer, allocations = _check_records(call, data, errors)
    errors.raise_if_any()
    total = data["total_amount_cents"]
    allocated = sum(amount for _, amount in allocations)
    fee = data.get("processing_fee_cents") or 0
    record = {name: data.get(name) for name in KEPT}
    record.update(
        id=store.new_id(),
        business_id=call.business_id,
        customer_id=customer["id"],
        external_id=str(data["external_id"]) if data.get("external_id") else None,
        total_amount_cents=total,
        total_amount=total,
        applied_amount_cents=allocated,
        allocated_amount_cents=allocated,
        allocated_amount=allocated,
        unapplied_amount_cents=total - allocated,
        unallocated_amount=total - allocated,
        remaining_amount_cents=total - allocated,
        is_fully_allocated=allocated == total,
        processing_fee_cents=fee,
        processing_fee=fee,
        net_amount=total - fee,
        currency=call.business["base_currency"],
        status="completed",
        is_completed=True,
        payment_date=data.get("payment_date") or store.today(),
        metadata=data.get("metadata") or {},
        bank_reference=(data.get("references") or {}).get("bank_reference")
        if isinstance(data.get("references"), dict)
        else None,
        idempotency_key=call.headers.get("idempotency-key"),
        refund_allocations=[],
        reconciled_bank_transactions=[],
        _allocations=[],
    )
    for invoice, amount in allocations:
        record["_allocations"].append(
            {"id": store.new_id(), "invoice_id": invoice["id"], "amount_cents": amount}
        )
        invoice["payments"].append({"payment_id": record["id"], "amount_cents": amount})
        apply_payment(store, invoice, amount)
    store.insert("payments", record, call.business_id)
    return 201, {"payment": render_payment(store, record)}


@route("GET", "/businesses/{business_id}/invoices/payments/")
def list_payments(call: Call):
    query = call.query
    search = (query.get("search") or "").lower()

    def keep(record: dict[str, Any]) -> bool:
        if not matches_exact(query, record, "external_id", "status", "payment_method"):
            return False
        if not in_csv(query, "customer_id", record["customer_id"]):
            return False
        wanted = query.get("invoice_id")
        if wanted and all(a["invoice_id"] != wanted for a in record["_allocations"]):
            return False
        if search:
            fields = ("external_id", "payment_reference", "note", "bank_reference")
            return any(search in str(record.get(name) or "").lower() for name in fields)
        return True

    records = filtered(call.store.all("payments", call.business_id), keep)
    return 200, paginate(call, records, lambda r: render(call, "payments", r))


@route("GET", "/businesses/{business_id}/invoices/payments/{payment_id}/")
def get_payment(call: Call):
    return 200, render(call, "payments", get_or_404(call, "payments", "payment_id", "payment"))
