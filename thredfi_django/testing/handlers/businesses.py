"""Businesses (§3.1, §3.9.1): partner-token CRUD, idempotent on external_id per partner."""

from __future__ import annotations

from typing import Any

from .. import validate as v
from ..errors import ApiError, FieldErrors
from ..listing import filtered, matches_exact, paginate
from ..routes import Call, route
from ..store import Store, public
from .accounts import seed_chart
from .common import existing_for_external_id, renderer

WRITABLE = (
    "legal_name", "entity_type", "phone_number", "tin", "vat_number", "company_number",
    "province", "eu_nace_industry_code", "email", "accounting_method", "fiscal_year_end",
    "metadata", "coa_language",
)  # fmt: skip
FIXED = ("external_id", "country", "base_currency")
LENGTHS = {
    "external_id": 255, "legal_name": 255, "vat_number": 20, "company_number": 20,
    "province": 100, "eu_nace_industry_code": 10, "phone_number": 50, "tin": 50,
}  # fmt: skip


@renderer("businesses")
def render_business(store: Store, record: dict[str, Any]) -> dict[str, Any]:
    return public(record)


def _check(data: dict[str, Any], errors: FieldErrors, country: str | None) -> None:
    for name, limit in LENGTHS.items():
        v.string(data, name, errors, max_length=limit, min_length=1 if name in data else 0)
    v.email(data, "email", errors)
    v.choice(data, "accounting_method", ("cash", "accrual"), errors)
    v.choice(data, "coa_language", ("en", "nl"), errors)
    v.date_value(data, "fiscal_year_end", errors)
    if data.get("metadata") is not None and not isinstance(data["metadata"], dict):
        errors.add("metadata", "Expected an object.")
    if "entity_type" in data and not isinstance(data["entity_type"], str):
        errors.add("entity_type", "Not a valid string.")
    errors.raise_if_any()
    _check_entity_type(data.get("entity_type"), country)


def _check_entity_type(entity_type: Any, country: str | None) -> None:
    """Shape 3 error, as the entity-types guide shows it (digest §5).

    In a country that enforces a list: a code outside it where the list is complete (GB), and
    anywhere a code the guides list for another country ("gmbh" in GB, "limited" in DE). Kept
    lenient on purpose: other codes pass in DE/NL/ES/BE/MY/SG, whose lists the stored docs
    truncate or omit, and in countries that enforce no list.
    """
    if country not in v.ENFORCED_COUNTRIES or not isinstance(entity_type, str):
        return
    code = entity_type.lower()
    own = v.ENTITY_TYPES.get(country, ())
    if code in own:
        return
    foreign = any(code in codes for other, codes in v.ENTITY_TYPES.items() if other != country)
    if country in v.COMPLETE_ENTITY_TYPES or foreign:
        shown = f" Valid options: {', '.join(own)}" if own else ""
        raise ApiError(
            400,
            {
                "error_code": "validation_error",
                "detail": f"Invalid entity_type {entity_type!r} for country {country}.{shown}",
            },
        )


@route("POST", "/businesses/", auth="partner")
def create_business(call: Call):
    partner = call.token.partner_uuid
    data = call.body()
    errors = FieldErrors()
    v.required(data, ("external_id", "legal_name", "entity_type", "email"), errors)
    country = data.get("country")
    if country is not None and country not in v.COUNTRIES:
        errors.add("country", f"Unsupported country. Must be one of: {', '.join(v.COUNTRIES)}.")
    v.choice(data, "base_currency", v.CURRENCIES, errors)
    if errors:
        errors.raise_if_any()
    _check(data, errors, country)
    existing = existing_for_external_id(call, "businesses", partner, "business")
    if existing is not None:
        return 200, {**render_business(call.store, existing), "_meta": {"created": False}}
    currency = data.get("base_currency") or v.COUNTRY_CURRENCY.get(country or "", "EUR")
    if not country and not data.get("base_currency"):
        currency = "GBP"
    store = call.store
    now = store.now()
    record = {
        "id": store.new_id(),
        "external_id": str(data["external_id"]),
        "legal_name": data["legal_name"],
        "name": data["legal_name"],
        "entity_type": data["entity_type"].lower(),
        "country": country,
        "base_currency": currency,
        "accounting_method": data.get("accounting_method") or "accrual",
        "activation_at": now,
        "is_active": True,
        "is_archived": False,
        "metadata": data.get("metadata") or {},
        "_partner": partner,
    }
    for name in WRITABLE:
        record.setdefault(name, data.get(name))
    store.insert("businesses", record, partner)
    seed_chart(store, record)
    return 201, {**render_business(store, record), "_meta": {"created": True}}


def _visible(call: Call, record: dict[str, Any]) -> bool:
    query = call.query
    if record["_partner"] != call.token.partner_uuid:
        return False
    archived = v.boolean(query.get("is_archived"))
    if record["is_archived"] != bool(archived):
        return False
    for name in ("country", "entity_type"):
        wanted = query.get(name)
        if wanted and str(record.get(name) or "").lower() != wanted.lower():
            return False
    return matches_exact(query, record, "external_id")


@route("GET", "/businesses/", auth="partner")
def list_businesses(call: Call):
    records = filtered(call.store.all("businesses"), lambda r: _visible(call, r))
    return 200, paginate(call, records, lambda r: render_business(call.store, r))


@route("GET", "/businesses/{business_id}/", auth="business")
def get_business(call: Call):
    return 200, render_business(call.store, call.business)


@route("PATCH", "/businesses/{business_id}/", auth="partner")
def update_business(call: Call):
    """country, base_currency and external_id cannot change (400); resending the same is fine."""
    record, data = call.business, call.body()
    errors = FieldErrors()
    for name in FIXED:
        if name in data and data[name] != record.get(name):
            errors.add(name, f"{name} cannot be changed after the business is created.")
    if "legal_name" in data and data["legal_name"] in (None, ""):
        errors.add("legal_name", "This field may not be blank.")
    errors.raise_if_any()
    _check(data, errors, record.get("country"))
    for name in WRITABLE:
        if name in data:
            record[name] = data[name]
    if "entity_type" in data and isinstance(data["entity_type"], str):
        record["entity_type"] = data["entity_type"].lower()
    record["name"] = record["legal_name"]
    call.store.touch(record)
    return 200, render_business(call.store, record)


def _set_archived(call: Call, archived: bool):
    record = call.business
    record["is_archived"] = archived
    record["is_active"] = not archived
    call.store.touch(record)
    return 200, render_business(call.store, record)


# The archive/unarchive paths are not in the stored docs (digest §3.1); these are guesses
# following the customer/vendor pattern.
@route("POST", "/businesses/{business_id}/archive/", auth="partner")
def archive_business(call: Call):
    return _set_archived(call, True)


@route("POST", "/businesses/{business_id}/unarchive/", auth="partner")
def unarchive_business(call: Call):
    return _set_archived(call, False)
