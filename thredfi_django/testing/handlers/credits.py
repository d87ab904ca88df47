"""Customer credits (§3.4) and vendor credits (§3.6, §3.9.6): credit notes with lines and
allocations; create, list, get. Idempotent on external_id.

A line takes ``amount`` (integer cents, ≥ 1) and its ledger account as
``revenue_account_identifier`` / ``expense_account_identifier`` (``{"type": "AccountId", "id"}``,
an account of the business; the only form the docs show, so ``account_code`` is refused);
customer-credit lines also ``tax_amount_cents``. Total = Σ amount + Σ tax. Allocations
(``amount`` + ``invoice_id`` / ``bill_id``) reduce the document's outstanding balance and may
not exceed it, nor together the credit's total. A vendor credit naming an unknown
``vendor_external_id`` creates that vendor (documented). Status is ``draft``, the one value the
reference shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import validate as v
from ..errors import FieldErrors
from ..listing import filtered, in_csv, matches_exact, paginate
from ..routes import Call, route
from ..store import Store, public
from .bills import bill_paid
from .common import (
    existing_for_external_id,
    get_or_404,
    party_summary,
    render,
    renderer,
    resolve_party,
)
from .invoices import apply_payment
from .lines import account_by_identifier, line_items


@dataclass(frozen=True)
class Kind:
    resource: str
    party: str
    date: str
    account_key: str
    target: str


CUSTOMER = Kind("customer_credits", "customer", "sent_at", "revenue_account_identifier", "invoice")
VENDOR = Kind("vendor_credits", "vendor", "received_at", "expense_account_identifier", "bill")


def _outstanding(store: Store, kind: Kind, document: dict[str, Any]) -> int:
    if kind.target == "invoice":
        return document["outstanding_balance"]
    return document["total_amount"] - bill_paid(store, document)


def _render(store: Store, kind: Kind, record: dict[str, Any]) -> dict[str, Any]:
    data = public(record)
    party = store.tables[f"{kind.party}s"].get(record[f"{kind.party}_id"]) or {}
    data[kind.party] = party_summary(party)
    allocations = []
    for allocation in record["_allocations"]:
        document = store.tables[f"{kind.target}s"].get(allocation[f"{kind.target}_id"])
        allocations.append(
            {
                f"{kind.target}_id": allocation[f"{kind.target}_id"],
                f"{kind.target}_number": (document or {}).get(f"{kind.target}_number"),
                "amount_cents": allocation["amount"],
                f"{kind.target}_outstanding_balance_cents": (
                    _outstanding(store, kind, document) if document else None
                ),
                "applied_at": record["created_at"],
            }
        )
    data["allocations"] = allocations
    data["applied_amount"] = sum(a["amount"] for a in record["_allocations"])
    return data


@renderer("customer_credits")
def render_customer_credit(store: Store, record: dict[str, Any]) -> dict[str, Any]:
    return _render(store, CUSTOMER, record)


@renderer("vendor_credits")
def render_vendor_credit(store: Store, record: dict[str, Any]) -> dict[str, Any]:
    return _render(store, VENDOR, record)


def _check_body(call: Call, kind: Kind, data: dict, errors: FieldErrors) -> list[dict]:
    """What the body alone shows; the lines, validated (accounts looked up)."""
    v.string(data, "external_id", errors, max_length=255, min_length=1)
    v.datetime_value(data, kind.date, errors)
    if not data.get(f"{kind.party}_id") and not data.get(f"{kind.party}_external_id"):
        errors.add(f"{kind.party}_id", f"Provide {kind.party}_id or {kind.party}_external_id.")
    lines = []
    for label, item in line_items(data, errors):
        for key in ("account_code", "account_identifier"):
            if key in item:
                errors.add(
                    f"{label}.{key}", f"Unknown field; credit lines take {kind.account_key}."
                )
        if item.get("amount") is None:
            errors.add(f"{label}.amount", "This field is required (integer cents).")
        amount = v.integer(item, "amount", errors, minimum=1, label=f"{label}.amount")
        tax = v.integer(item, "tax_amount_cents", errors, 0, f"{label}.tax_amount_cents")
        account = _account(call, item.get(kind.account_key), f"{label}.{kind.account_key}", errors)
        lines.append(
            {
                "amount": amount,
                "tax_amount_cents": tax or 0,
                kind.account_key: account,
                "memo": item.get("memo"),
                "tags": item.get("tags") or [],
                "metadata": item.get("metadata") or {},
            }
        )
    allocated = 0
    for n, allocation in enumerate(v.list_of_objects(data, "allocations", errors)):
        if not allocation.get(f"{kind.target}_id"):
            errors.add(f"allocations[{n}].{kind.target}_id", "This field is required.")
        if allocation.get("amount") is None:
            errors.add(f"allocations[{n}].amount", "This field is required.")
        allocated += v.integer(allocation, "amount", errors, 1, f"allocations[{n}].amount") or 0
    total = sum((line["amount"] or 0) + line["tax_amount_cents"] for line in lines)
    if allocated > total:
        errors.add("allocations", f"Allocations ({allocated}) exceed the credit's total ({total}).")
    return lines


def _account(call: Call, value: Any, label: str, errors: FieldErrors) -> dict | None:
    if value is None:
        errors.add(label, "This field is required.")
        return None
    if account_by_identifier(call, value, label, errors) is None:
        return None
    return {"type": "AccountId", "id": str(value["id"])}


def _party(call: Call, kind: Kind, data: dict, errors: FieldErrors) -> dict | None:
    external_id = data.get(f"{kind.party}_external_id")
    if kind is VENDOR and not data.get("vendor_id") and external_id:
        existing = call.store.by_external_id("vendors", call.business_id, external_id)
        if existing is None:  # documented: a vendor credit may create its vendor
            vendor = {
                "id": call.store.new_id(),
                "type": "VendorData",
                "business_id": call.business_id,
                "external_id": str(external_id),
                "company_name": str(external_id),
                "status": "ACTIVE",
                "is_archived": False,
                "transaction_tags": [],
                "documents": [],
            }
            return call.store.insert("vendors", vendor, call.business_id)
        return existing
    return resolve_party(call, data, errors, kind.party)


def _create(call: Call, kind: Kind):
    data, errors, store = call.body(), FieldErrors(), call.store
    lines = _check_body(call, kind, data, errors)
    errors.raise_if_any()
    existing = existing_for_external_id(call, kind.resource, call.business_id, "credit")
    if existing is not None:
        return 200, _render(store, kind, existing)
    source_key = f"source_{kind.target}_id"
    if data.get(source_key) and store.get(f"{kind.target}s", str(data[source_key]),
                                          call.business_id) is None:  # fmt: skip
        errors.add(source_key, f"{kind.target.capitalize()} {data[source_key]} does not exist.")
    targets = []
    for n, allocation in enumerate(data.get("allocations") or []):
        document = store.get(f"{kind.target}s", str(allocation[f"{kind.target}_id"]),
                             call.business_id)  # fmt: skip
        label = f"allocations[{n}]"
        if document is None:
            errors.add(f"{label}.{kind.target}_id", f"No {kind.target} with this id here.")
        elif document.get("voided_at"):
            errors.add(f"{label}.{kind.target}_id", f"The {kind.target} is voided.")
        elif allocation["amount"] > _outstanding(store, kind, document):
            errors.add(
                f"{label}.amount",
                f"Amount {allocation['amount']} exceeds the {kind.target}'s outstanding balance "
                f"{_outstanding(store, kind, document)}.",
            )
        targets.append(document)
    party = _party(call, kind, data, errors)
    errors.raise_if_any()
    record = {
        "id": store.new_id(),
        "business_id": call.business_id,
        "external_id": str(data["external_id"]) if data.get("external_id") else None,
        "status": "draft",
        kind.date: data.get(kind.date),
        f"{kind.party}_id": party["id"],
        source_key: data.get(source_key),
        "line_items": lines,
        "tags": data.get("tags") or [],
        "total_amount": sum(line["amount"] + line["tax_amount_cents"] for line in lines),
        "currency": call.business["base_currency"],
        "_allocations": [],
    }
    for allocation, document in zip(data.get("allocations") or [], targets, strict=True):
        amount = allocation["amount"]
        record["_allocations"].append({f"{kind.target}_id": document["id"], "amount": amount})
        if kind.target == "invoice":
            apply_payment(store, document, amount)
        else:
            document["_credited"] = document.get("_credited", 0) + amount
            store.touch(document)
    store.insert(kind.resource, record, call.business_id)
    return 201, _render(store, kind, record)


def _list(call: Call, kind: Kind):
    def keep(record: dict[str, Any]) -> bool:
        if not matches_exact(call.query, record, "external_id"):
            return False
        return in_csv(call.query, f"{kind.party}_id", record[f"{kind.party}_id"])

    records = filtered(call.store.all(kind.resource, call.business_id), keep)
    return 200, paginate(call, records, lambda r: render(call, kind.resource, r))


@route("POST", "/businesses/{business_id}/customer-credits/")
def create_customer_credit(call: Call):
    return _create(call, CUSTOMER)


@route("GET", "/businesses/{business_id}/customer-credits/")
def list_customer_credits(call: Call):
    return _list(call, CUSTOMER)


@route("GET", "/businesses/{business_id}/customer-credits/{credit_id}/")
def get_customer_credit(call: Call):
    record = get_or_404(call, "customer_credits", "credit_id", "customer credit")
    return 200, render(call, "customer_credits", record)


@route("POST", "/businesses/{business_id}/vendor-credits/")
def create_vendor_credit(call: Call):
    return _create(call, VENDOR)


@route("GET", "/businesses/{business_id}/vendor-credits/")
def list_vendor_credits(call: Call):
    return _list(call, VENDOR)


@route("GET", "/businesses/{business_id}/vendor-credits/{credit_id}/")
def get_vendor_credit(call: Call):
    record = get_or_404(call, "vendor_credits", "credit_id", "vendor credit")
    return 200, render(call, "vendor_credits", record)
