"""Refunds of invoices and their refund payments (§3.4): refund → refund payments (ordering).

A refund without ``amount_cents`` refunds the invoice in full (its paid amount, or its total
when nothing was paid). Refunds may not exceed the invoice total minus earlier refunds; refund
payments may not exceed what remains of their refund. Both are idempotent on external_id per
business.
"""

from __future__ import annotations

from typing import Any

from .. import validate as v
from ..errors import FieldErrors, field_error, not_found
from ..listing import filtered, matches_exact, paginate
from ..routes import Call, route
from ..store import Store, public
from .common import existing_for_external_id, get_or_404, render, renderer
from .invoices import invoice_or_error

REFUND_FIELDS = (
    "method", "completed_at", "memo", "reference_number", "processor", "refund_date",
)  # fmt: skip
PAYMENT_FIELDS = ("method", "completed_at", "processor", "memo", "transaction_tags")


@renderer("refunds")
def render_refund(store: Store, record: dict[str, Any]) -> dict[str, Any]:
    data = public(record)
    payments = store.existing("refund_payments", record["_payment_ids"])
    data["refund_payments"] = [render_refund_payment(store, p) for p in payments]
    paid = sum(p["amount_cents"] for p in payments)
    data["refunded_paid_amount_cents"] = paid
    data["remaining_amount_cents"] = record["amount_cents"] - paid
    data["status"] = "completed" if paid >= record["amount_cents"] else "pending"
    return data


@renderer("refund_payments")
def render_refund_payment(store: Store, record: dict[str, Any]) -> dict[str, Any]:
    return public(record)


def _check_method(data: dict, errors: FieldErrors) -> None:
    method = data.get("method")
    if isinstance(method, str):
        data = {**data, "method": method.upper()}
    v.choice(data, "method", v.REFUND_METHODS, errors)


@route("POST", "/businesses/{business_id}/invoices/refunds/")
def create_refund(call: Call):
    data, errors, store = call.body(), FieldErrors(), call.store
    v.required(data, ("invoice_id",), errors)
    amount = v.integer(data, "amount_cents", errors, minimum=1)
    v.integer(data, "refund_processing_fee_cents", errors, minimum=0)
    v.string(data, "external_id", errors, max_length=255, min_length=1)
    v.datetime_value(data, "completed_at", errors)
    _check_method(data, errors)
    errors.raise_if_any()
    existing = existing_for_external_id(call, "refunds", call.business_id, "refund")
    if existing is not None:
        return 200, render_refund(call.store, existing)
    invoice = invoice_or_error(call, data["invoice_id"], "invoice_id", errors)
    errors.raise_if_any()
    refundable = invoice["total_amount"] - invoice["refunded_amount"]
    if amount is None:
        amount = (invoice["paid_amount"] or invoice["total_amount"]) - invoice["refunded_amount"]
    if amount < 1 or amount > refundable:
        raise field_error(
            "amount_cents",
            f"Refund of {amount} exceeds what can still be refunded on this invoice "
            f"({refundable}).",
        )
    record = {name: data.get(name) for name in REFUND_FIELDS}
    record.update(
        id=store.new_id(),
        business_id=call.business_id,
        invoice_id=invoice["id"],
        customer_id=invoice["customer_id"],
        external_id=str(data["external_id"]) if data.get("external_id") else None,
        amount_cents=amount,
        refunded_amount=amount,
        currency=invoice["currency"],
        method=(data.get("method") or "").upper() or None,
        refund_processing_fee_cents=data.get("refund_processing_fee_cents") or 0,
        _payment_ids=[],
    )
    invoice["refunded_amount"] += amount
    store.touch(invoice)
    store.insert("refunds", record, call.business_id)
    return 201, render_refund(store, record)


@route("GET", "/businesses/{business_id}/invoices/refunds/")
def list_refunds(call: Call):
    def keep(record: dict[str, Any]) -> bool:
        return matches_exact(call.query, record, "external_id", "invoice_id")

    records = filtered(call.store.all("refunds", call.business_id), keep)
    return 200, paginate(call, records, lambda r: render(call, "refunds", r))


@route("GET", "/businesses/{business_id}/invoices/refunds/{refund_id}/")
def get_refund(call: Call):
    return 200, render(call, "refunds", get_or_404(call, "refunds", "refund_id", "refund"))


def _refund(call: Call) -> dict[str, Any]:
    refund = call.store.get("refunds", call.params["refund_id"], call.business_id)
    if refund is None:
        raise not_found("refund", call.params["refund_id"])
    return refund


@route("POST", "/businesses/{business_id}/invoices/refunds/{refund_id}/payments/")
def create_refund_payment(call: Call):
    refund = _refund(call)
    data, errors, store = call.body(), FieldErrors(), call.store
    v.required(data, ("amount_cents",), errors)
    amount = v.integer(data, "amount_cents", errors, minimum=1)
    v.integer(data, "refund_processing_fee_cents", errors, minimum=0)
    v.string(data, "external_id", errors, max_length=255, min_length=1)
    v.datetime_value(data, "completed_at", errors)
    _check_method(data, errors)
    errors.raise_if_any()
    existing = existing_for_external_id(call, "refund_payments", call.business_id, "refund payment")
    if existing is not None:
        return 200, render_refund_payment(call.store, existing)
    paid = sum(p["amount_cents"] for p in store.existing("refund_payments", refund["_payment_ids"]))
    if amount > refund["amount_cents"] - paid:
        raise field_error(
            "amount_cents",
            f"Amount {amount} exceeds what remains of the refund "
            f"({refund['amount_cents'] - paid}).",
        )
    record = {name: data.get(name) for name in PAYMENT_FIELDS}
    record.update(
        id=store.new_id(),
        business_id=call.business_id,
        refund_id=refund["id"],
        external_id=str(data["external_id"]) if data.get("external_id") else None,
        amount_cents=amount,
        refunded_amount_cents=amount,
        method=(data.get("method") or "").upper() or None,
        refund_processing_fee_cents=data.get("refund_processing_fee_cents") or 0,
        transaction_tags=data.get("transaction_tags") or [],
        currency=refund["currency"],
        status="completed",
    )
    store.insert("refund_payments", record, call.business_id)
    refund["_payment_ids"].append(record["id"])
    store.touch(refund)
    return 201, render_refund_payment(store, record)


@route("GET", "/businesses/{business_id}/invoices/refunds/{refund_id}/payments/")
def list_refund_payments(call: Call):
    refund = _refund(call)
    records = call.store.existing("refund_payments", refund["_payment_ids"])
    records = filtered(records, lambda r: matches_exact(call.query, r, "external_id"))
    return 200, paginate(call, records, lambda r: render(call, "refund_payments", r))
