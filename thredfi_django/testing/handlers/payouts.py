"""Payouts (§3.4, §3.9.10): processor settlements, an UPSERT on external_id.

Unlike every other create, a repeated ``external_id`` *updates* the payout and answers 200
(documented); once ``reconciliation_status`` is ``reconciled`` an update is a 409
``payout_reconciled``. ``duplicate_mode`` does not apply here. Amounts: expected net = gross
payments − refunds − fee; variance = paid out − expected net; net = paid out − fee (the
reference example's arithmetic).
"""

from __future__ import annotations

from typing import Any

from .. import validate as v
from ..errors import FieldErrors, error
from ..listing import filtered, matches_exact, paginate
from ..routes import Call, route
from ..store import Store, public
from .common import get_or_404, render, renderer

FIELDS = (
    "processor", "status", "completed_at", "processor_payout_id", "reference_number", "memo",
    "metadata", "currency",
)  # fmt: skip
AMOUNTS = ("paid_out_amount_cents", "fee_cents", "additional_refunds_amount_cents")


@renderer("payouts")
def render_payout(store: Store, record: dict[str, Any]) -> dict[str, Any]:
    data = public(record)
    payments = store.existing("payments", record["payment_ids"])
    refunds = store.existing("refund_payments", record["refund_payment_ids"])
    gross = sum(p["total_amount_cents"] for p in payments)
    refunded = sum(r["amount_cents"] for r in refunds) + record["additional_refunds_amount_cents"]
    expected = gross - refunded - record["fee_cents"]
    data.update(
        payment_count=len(payments),
        refund_payment_count=len(refunds),
        gross_payments_amount_cents=gross,
        total_refunds_amount_cents=refunded,
        expected_net_amount_cents=expected,
        amount_variance_cents=record["paid_out_amount_cents"] - expected,
        net_amount_cents=record["paid_out_amount_cents"] - record["fee_cents"],
        payments=[
            {"id": p["id"], "external_id": p.get("external_id"),
             "payment_reference": p.get("payment_reference"),
             "payment_date": p.get("payment_date"),
             "total_amount_cents": p["total_amount_cents"], "currency": p["currency"]}
            for p in payments
        ],
        refund_payments=[
            {"id": r["id"], "external_id": r.get("external_id"), "refund_id": r["refund_id"],
             "refunded_amount_cents": r["amount_cents"], "completed_at": r.get("completed_at")}
            for r in refunds
        ],
    )  # fmt: skip
    return data


def _ids(call: Call, data: dict, name: str, resource: str, errors: FieldErrors) -> list[str]:
    value = data.get(name)
    if value is None:
        return []
    if not isinstance(value, list):
        errors.add(name, "Expected a list of ids.")
        return []
    missing = [str(i) for i in value if call.store.get(resource, str(i), call.business_id) is None]
    for record_id in missing:
        errors.add(name, f"{record_id} does not exist in this business.")
    return [str(i) for i in value]


@route("POST", "/businesses/{business_id}/payouts/")
def upsert_payout(call: Call):
    data, errors, store = call.body(), FieldErrors(), call.store
    v.required(data, ("external_id",), errors)
    v.string(data, "external_id", errors, max_length=255)
    for name in AMOUNTS:
        v.integer(data, name, errors, minimum=0)
    v.choice(data, "currency", v.CURRENCIES, errors)
    v.datetime_value(data, "completed_at", errors)
    payment_ids = _ids(call, data, "payment_ids", "payments", errors)
    refund_ids = _ids(call, data, "refund_payment_ids", "refund_payments", errors)
    errors.raise_if_any()
    existing = store.by_external_id("payouts", call.business_id, data["external_id"])
    if existing is not None:
        if existing["reconciliation_status"] == "reconciled":
            message = "This payout is reconciled to a bank transaction and cannot change."
            raise error(409, "payout_reconciled", message)
        for name in (*FIELDS, *AMOUNTS):
            if name in data:
                existing[name] = data[name]
        if "payment_ids" in data:
            existing["payment_ids"] = payment_ids
        if "refund_payment_ids" in data:
            existing["refund_payment_ids"] = refund_ids
        store.touch(existing)
        return 200, render_payout(store, existing)
    record = {name: data.get(name) for name in FIELDS}
    record.update(
        {name: data.get(name) or 0 for name in AMOUNTS},
        id=store.new_id(),
        business_id=call.business_id,
        external_id=str(data["external_id"]),
        currency=data.get("currency") or call.business["base_currency"],
        status=data.get("status") or "paid",
        metadata=data.get("metadata") or {},
        payment_ids=payment_ids,
        refund_payment_ids=refund_ids,
        reconciliation_status="unreconciled",
        settlement_file_id=None,
        imported_at=store.now(),
    )
    store.insert("payouts", record, call.business_id)
    return 201, render_payout(store, record)


@route("GET", "/businesses/{business_id}/payouts/")
def list_payouts(call: Call):
    def keep(record: dict[str, Any]) -> bool:
        return matches_exact(call.query, record, "external_id", "processor", "status")

    records = filtered(call.store.all("payouts", call.business_id), keep)
    return 200, paginate(call, records, lambda r: render(call, "payouts", r))


@route("GET", "/businesses/{business_id}/payouts/{payout_id}/")
def get_payout(call: Call):
    return 200, render(call, "payouts", get_or_404(call, "payouts", "payout_id", "payout"))
