"""Invoice write-offs (bad debt): ``POST invoices/{invoice_id}/write-offs/``, the widget's
endpoint (digest §3.3; the auth guide names the capability). Body: ``external_id``,
``amount_cents`` (≥ 1, at most what the invoice has outstanding), ``write_off_at``, ``memo``,
``destination_account`` (``{"type": "AccountId", "id"}`` of the business; optional: the widget
sends it, no page says it is required), ``tags``. It lowers the invoice's outstanding balance.
Idempotent on external_id like the other creates. No list or get is documented, so none here.
"""

from __future__ import annotations

from typing import Any

from .. import validate as v
from ..errors import FieldErrors, error
from ..routes import Call, route
from ..store import Store, public
from .common import existing_for_external_id, get_or_404, renderer
from .invoices import refresh


@renderer("write_offs")
def render_write_off(store: Store, record: dict[str, Any]) -> dict[str, Any]:
    return public(record)


@route("POST", "/businesses/{business_id}/invoices/{invoice_id}/write-offs/")
def create_write_off(call: Call):
    data, errors, store = call.body(), FieldErrors(), call.store
    v.required(data, ("amount_cents",), errors)
    amount = v.integer(data, "amount_cents", errors, minimum=1)
    v.string(data, "external_id", errors, max_length=255, min_length=1)
    v.string(data, "memo", errors, max_length=5000)
    v.datetime_value(data, "write_off_at", errors)
    account = data.get("destination_account")
    if account is not None and (
        not isinstance(account, dict)
        or account.get("type") != "AccountId"
        or store.get("accounts", str(account.get("id")), call.business_id) is None
    ):
        errors.add("destination_account", "Expected the AccountId of one of this business's "
                   "ledger accounts.")  # fmt: skip
    errors.raise_if_any()
    existing = existing_for_external_id(call, "write_offs", call.business_id, "write-off")
    if existing is not None:
        return 200, render_write_off(store, existing)
    invoice = get_or_404(call, "invoices", "invoice_id", "invoice")
    if invoice.get("voided_at"):
        raise error(409, "invalid_state", "A voided invoice cannot be written off.")
    if amount > invoice["outstanding_balance"]:
        errors.add("amount_cents", f"Amount {amount} exceeds the invoice's outstanding "
                   f"balance {invoice['outstanding_balance']}.")  # fmt: skip
        errors.raise_if_any()
    record = {
        "id": store.new_id(),
        "business_id": call.business_id,
        "external_id": str(data["external_id"]) if data.get("external_id") else None,
        "invoice_id": invoice["id"],
        "amount_cents": amount,
        "write_off_at": data.get("write_off_at") or store.now(),
        "memo": data.get("memo"),
        "destination_account": account,
        "tags": data.get("tags") or [],
    }
    invoice["written_off_amount"] = invoice.get("written_off_amount", 0) + amount
    refresh(store, invoice)
    store.touch(invoice)
    store.insert("write_offs", record, call.business_id)
    return 201, render_write_off(store, record)
