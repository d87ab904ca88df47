"""Vendor refunds (§3.6): money coming back from a vendor, allocated to bills. Create, list,
get, PATCH, DELETE; every route takes only a business token (the reference's "B!").

Create: ``vendor_id``, ``total_refunded_amount_cents`` (≥ 1) and ``currency`` are required;
``refund_type`` is one of the listed values, or any string (the list ends in "…"; kept lenient on
purpose); ``allocations[{allocation_type: "bill", amount_cents, bill_id, bill_payment_id}]`` must
name this business's bills and add up to at most the total; ``payments[]`` are stored as sent.
A repeated external_id answers 200 with the existing refund (documented). PATCH changes only
``description``, ``memo``, ``reason``, ``metadata`` and ``expected_completion_date``.
"""

from __future__ import annotations

from typing import Any

from .. import validate as v
from ..errors import FieldErrors
from ..listing import filtered, matches_exact, paginate
from ..routes import Call, route
from ..store import Store, public
from .common import existing_for_external_id, get_or_404, render, renderer, resolve_party

PATCHABLE = ("description", "memo", "reason", "metadata", "expected_completion_date")
KEPT = ("reference_number", "refund_type", "description", "memo", "reason")


@renderer("vendor_refunds")
def render_vendor_refund(store: Store, record: dict[str, Any]) -> dict[str, Any]:
    data = public(record)
    vendor = store.tables["vendors"].get(record["vendor_id"]) or {}
    allocated = sum(a["amount_cents"] for a in record["allocations"])
    data.update(
        vendor_name=vendor.get("company_name") or vendor.get("individual_name"),
        total_refunded_amount=record["total_refunded_amount_cents"],
        allocated_amount=allocated,
        unallocated_amount=record["total_refunded_amount_cents"] - allocated,
    )
    return data


def _check_body(data: dict, errors: FieldErrors) -> None:
    v.required(data, ("vendor_id", "total_refunded_amount_cents", "currency"), errors)
    total = v.integer(data, "total_refunded_amount_cents", errors, minimum=1)
    v.choice(data, "currency", v.CURRENCIES, errors)
    v.string(data, "external_id", errors, max_length=255, min_length=1)
    v.date_value(data, "refund_date", errors)
    v.list_of_objects(data, "payments", errors)
    allocated = 0
    for n, allocation in enumerate(v.list_of_objects(data, "allocations", errors)):
        label = f"allocations[{n}]"
        if allocation.get("allocation_type", "bill") != "bill":
            errors.add(f"{label}.allocation_type", '"bill" is the only allocation type.')
        if not allocation.get("bill_id"):
            errors.add(f"{label}.bill_id", "This field is required.")
        if allocation.get("amount_cents") is None:
            errors.add(f"{label}.amount_cents", "This field is required.")
        allocated += v.integer(allocation, "amount_cents", errors, 1, f"{label}.amount_cents") or 0
    if total is not None and allocated > total:
        errors.add("allocations", f"Allocations ({allocated}) exceed the refund ({total}).")


@route("POST", "/businesses/{business_id}/vendor-refunds/", auth="business_token")
def create_vendor_refund(call: Call):
    status, record = _create_refund(call, call.body())
    return status, render_vendor_refund(call.store, record)


def _create_refund(call: Call, data: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """(201, the new refund) or (200, the one a repeated external_id names)."""
    errors, store = FieldErrors(), call.store
    _check_body(data, errors)
    errors.raise_if_any()
    existing = existing_for_external_id(call, "vendor_refunds", call.business_id, "vendor refund")
    if existing is not None:
        return 200, existing
    vendor = resolve_party(call, data, errors, "vendor")
    allocations = []
    for n, allocation in enumerate(data.get("allocations") or []):
        if store.get("bills", str(allocation["bill_id"]), call.business_id) is None:
            errors.add(f"allocations[{n}].bill_id", f"Bill {allocation['bill_id']} does not "
                       "exist in this business.")  # fmt: skip
        payment_id = allocation.get("bill_payment_id")
        if payment_id and store.get("bill_payments", str(payment_id), call.business_id) is None:
            errors.add(f"allocations[{n}].bill_payment_id", "No such bill payment here.")
        allocations.append({"id": store.new_id(), "allocation_type": "bill",
                            "bill_id": str(allocation["bill_id"]),
                            "bill_payment_id": payment_id,
                            "amount_cents": allocation["amount_cents"],
                            "description": allocation.get("description")})  # fmt: skip
    errors.raise_if_any()
    record = {name: data.get(name) for name in KEPT}
    record.update(
        id=store.new_id(),
        business_id=call.business_id,
        external_id=str(data["external_id"]) if data.get("external_id") else None,
        vendor_id=vendor["id"],
        total_refunded_amount_cents=data["total_refunded_amount_cents"],
        currency=data["currency"],
        refund_date=data.get("refund_date") or store.today(),
        metadata=data.get("metadata") or {},
        expected_completion_date=None,
        allocations=allocations,
        vendor_refund_payments=data.get("payments") or [],
    )
    store.insert("vendor_refunds", record, call.business_id)
    return 201, record


@route("GET", "/businesses/{business_id}/vendor-refunds/", auth="business_token")
def list_vendor_refunds(call: Call):
    def keep(record: dict[str, Any]) -> bool:
        return matches_exact(call.query, record, "external_id", "vendor_id")

    records = filtered(call.store.all("vendor_refunds", call.business_id), keep)
    return 200, paginate(call, records, lambda r: render(call, "vendor_refunds", r))


@route("GET", "/businesses/{business_id}/vendor-refunds/{refund_id}/", auth="business_token")
def get_vendor_refund(call: Call):
    record = get_or_404(call, "vendor_refunds", "refund_id", "vendor refund")
    return 200, render(call, "vendor_refunds", record)


@route("PATCH", "/businesses/{business_id}/vendor-refunds/{refund_id}/", auth="business_token")
def update_vendor_refund(call: Call):
    record = get_or_404(call, "vendor_refunds", "refund_id", "vendor refund")
    data, errors = call.body(), FieldErrors()
    for name in data:
        if name not in (*PATCHABLE, "document"):
            errors.add(name, f"Cannot be changed; a vendor refund's PATCH takes "
                       f"{', '.join(PATCHABLE)}.")  # fmt: skip
    v.date_value(data, "expected_completion_date", errors)
    errors.raise_if_any()
    for name in PATCHABLE:
        if name in data:
            record[name] = data[name]
    call.store.touch(record)
    return 200, render_vendor_refund(call.store, record)


@route("DELETE", "/businesses/{business_id}/vendor-refunds/{refund_id}/", auth="business_token")
def delete_vendor_refund(call: Call):
    record = get_or_404(call, "vendor_refunds", "refund_id", "vendor refund")
    call.store.remove("vendor_refunds", record["id"])
    return 204, None


# -- one-shot refund + payment + allocations ---------------------------------------------------


@renderer("vendor_refund_payments")
def render_vendor_refund_payment(store: Store, record: dict[str, Any]) -> dict[str, Any]:
    data = public(record)
    vendor = store.tables["vendors"].get(record["vendor_id"]) or {}
    data["vendor_name"] = vendor.get("company_name") or vendor.get("individual_name")
    data["net_amount_cents"] = record["refunded_amount_cents"] - record["processing_fee_cents"]
    return data


def _detail(store: Store, payment: dict[str, Any]) -> dict[str, Any]:
    refund = store.tables["vendor_refunds"][payment["refund_id"]]
    return {
        "refund": render_vendor_refund(store, refund),
        "payment": render_vendor_refund_payment(store, payment),
        "allocations": refund["allocations"],
    }


@route("POST", "/businesses/{business_id}/vendor-refunds/payments/", auth="business_token",
       idempotency_key=True)  # fmt: skip
def create_vendor_refund_payment(call: Call):
    """The refund, its payment and its allocations in one request; the documented optional
    Idempotency-Key header is what makes a retry safe (the dispatcher replays it)."""
    data, errors, store = call.body(), FieldErrors(), call.store
    v.required(data, ("vendor_id", "total_amount_cents"), errors)
    v.integer(data, "processing_fee_cents", errors, minimum=0)
    errors.raise_if_any()
    refund_body = {**data, "total_refunded_amount_cents": data["total_amount_cents"],
                   "currency": data.get("currency") or call.business["base_currency"]}  # fmt: skip
    status, refund = _create_refund(call, refund_body)
    if status == 200:  # a repeated external_id: the refund and the payment made then
        made = [p for p in store.all("vendor_refund_payments", call.business_id)
                if p["refund_id"] == refund["id"]]  # fmt: skip
        if made:
            return 200, _detail(store, made[0])
    record = {
        "id": store.new_id(),
        "business_id": call.business_id,
        "refund_id": refund["id"],
        "vendor_id": refund["vendor_id"],
        "external_id": refund.get("external_id"),
        "payment_reference": data.get("payment_reference"),
        "payment_method": data.get("payment_method"),
        "processor": data.get("processor"),
        "refunded_amount_cents": refund["total_refunded_amount_cents"],
        "processing_fee_cents": data.get("processing_fee_cents") or 0,
        "currency": refund["currency"],
        "status": "completed",
        "payment_date": refund["refund_date"],
        "completed_at": store.now(),
        "reconciled_bank_transactions": [],
    }
    store.insert("vendor_refund_payments", record, call.business_id)
    return status, _detail(store, record)


@route("GET", "/businesses/{business_id}/vendor-refunds/payments/", auth="business_token")
def list_vendor_refund_payments(call: Call):
    def keep(record: dict[str, Any]) -> bool:
        return matches_exact(call.query, record, "vendor_id", "refund_id")

    records = filtered(call.store.all("vendor_refund_payments", call.business_id), keep)
    return 200, paginate(call, records, lambda r: render(call, "vendor_refund_payments", r))


@route("GET", "/businesses/{business_id}/vendor-refunds/payments/{payment_id}/",
       auth="business_token")  # fmt: skip
def get_vendor_refund_payment(call: Call):
    record = get_or_404(call, "vendor_refund_payments", "payment_id", "vendor refund payment")
    return 200, _detail(call.store, record)
