"""Chart of accounts (§3.7, §3.9.8): list and create ledger accounts.

Every business starts with a small default chart (``DEFAULT_CHART``) holding the codes the docs
use ("1000" bank, "4000" revenue) and the usual counterparts, so invoice and bill lines have
accounts to name. Codes are unique per business. Balances are not kept (always 0).
"""

from __future__ import annotations

from typing import Any

from .. import validate as v
from ..errors import FieldErrors
from ..listing import filtered, matches_exact, paginate
from ..routes import Call, route
from ..store import Store, public
from .common import existing_for_external_id, renderer

#: Documented subtypes per account type (digest §3.9.8).
SUBTYPES = {
    "asset": ("current_assets", "non_current_assets"),
    "liability": ("current_liabilities", "non_current_liabilities"),
    "equity": ("share_capital", "share_premium", "reserves", "retained_earnings"),
    "revenue": ("revenue", "other_operating_income", "finance_income"),
    "expense": ("direct_costs", "operating_expenses", "finance_costs", "income_tax"),
}
DEFAULT_CHART = (
    ("1000", "Bank", "asset", "current_assets"),
    ("1100", "Accounts receivable", "asset", "current_assets"),
    ("2000", "Accounts payable", "liability", "current_liabilities"),
    ("2200", "VAT", "liability", "current_liabilities"),
    ("3000", "Share capital", "equity", "share_capital"),
    ("4000", "Sales", "revenue", "revenue"),
    ("5000", "Cost of sales", "expense", "direct_costs"),
    ("6000", "Operating expenses", "expense", "operating_expenses"),
)
OPTIONAL = ("description", "external_id", "institution_name", "iban", "sort_code",
            "account_number_mask", "parent_id")  # fmt: skip


@renderer("accounts")
def render_account(store: Store, record: dict[str, Any]) -> dict[str, Any]:
    data = public(record)
    data.update(
        account_type_display=record["account_type"].capitalize(),
        account_subtype_display=(record.get("account_subtype") or "").replace("_", " ").title(),
        current_balance=0,
        current_balance_formatted="0.00",
        debit_balance=0,
        credit_balance=0,
        has_children=False,
        hierarchy_level=0,
    )
    return data


def add_account(store: Store, business: dict, code: str, name: str, account_type: str,
                subtype: str | None, **extra: Any) -> dict[str, Any]:  # fmt: skip
    record = {
        "id": store.new_id(),
        "business_id": business["id"],
        "code": code,
        "name": name,
        "currency": business.get("base_currency"),
        "account_type": account_type,
        "account_subtype": subtype,
        "parent_account_code": None,
        "is_active": True,
        **extra,
    }
    return store.insert("accounts", record, business["id"])


def seed_chart(store: Store, business: dict[str, Any]) -> None:
    """The default chart of a new business."""
    for code, name, account_type, subtype in DEFAULT_CHART:
        add_account(store, business, code, name, account_type, subtype)


def by_code(store: Store, business_id: str, code: Any) -> dict[str, Any] | None:
    return next(
        (a for a in store.all("accounts", business_id) if a["code"] == str(code)),
        None,
    )


@route("GET", "/businesses/{business_id}/general-ledger/chart-of-accounts/")
def list_accounts(call: Call):
    query = call.query
    search = (query.get("search") or "").lower()

    def keep(record: dict[str, Any]) -> bool:
        if not matches_exact(query, record, "account_type", "external_id"):
            return False
        return not search or search in f"{record['code']} {record['name']}".lower()

    records = filtered(call.store.all("accounts", call.business_id), keep)
    return 200, paginate(call, records, lambda r: render_account(call.store, r))


@route("POST", "/businesses/{business_id}/general-ledger/chart-of-accounts/")
def create_account(call: Call):
    data, errors, store = call.body(), FieldErrors(), call.store
    v.required(data, ("code", "name", "account_type"), errors)
    v.string(data, "code", errors, max_length=20)
    v.string(data, "name", errors, max_length=255)
    v.choice(data, "account_type", tuple(SUBTYPES), errors)
    subtypes = SUBTYPES.get(data.get("account_type"), ())
    if data.get("account_subtype") not in (None, "") and subtypes:
        v.choice(data, "account_subtype", subtypes, errors)
    errors.raise_if_any()
    existing = existing_for_external_id(call, "accounts", call.business_id, "ledger account")
    if existing is not None:
        return 200, render_account(store, existing)
    if by_code(store, call.business_id, data["code"]) is not None:
        errors.add("code", f"An account with code {data['code']!r} already exists.")
        errors.raise_if_any()
    extra = {name: data.get(name) for name in OPTIONAL}
    record = add_account(store, call.business, str(data["code"]), data["name"],
                         data["account_type"], data.get("account_subtype") or subtypes[0],
                         **extra)  # fmt: skip
    return 201, render_account(store, record)
