"""The fake's in-memory state: partners, records per resource, external_id indexes.

Records are plain dicts holding the public fields plus private bookkeeping keys that start with
``_`` (stripped when rendered). Every access happens under :attr:`FakeThredfi.lock`.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

#: Resource names as used by ``records()`` / ``count_by_external_id()`` and ``/__fake__/records/``.
RESOURCES = (
    "businesses",
    "customers",
    "invoices",
    "payments",
    "refunds",
    "refund_payments",
    "vendors",
    "bills",
    "bill_payments",
    "payouts",
    "accounts",
    "customer_credits",
    "vendor_credits",
    "write_offs",
    "vendor_refunds",
    "vendor_refund_payments",
)
#: Spellings accepted for a resource name (URL path segments, singular forms).
ALIASES = {
    "business": "businesses",
    "customer": "customers",
    "invoice": "invoices",
    "payment": "payments",
    "invoice_payments": "payments",
    "refund": "refunds",
    "refund_payment": "refund_payments",
    "vendor": "vendors",
    "bill": "bills",
    "bill_payment": "bill_payments",
    "payout": "payouts",
    "account": "accounts",
    "chart_of_accounts": "accounts",
    "customer_credit": "customer_credits",
    "vendor_credit": "vendor_credits",
    "write_off": "write_offs",
    "vendor_refund": "vendor_refunds",
    "vendor_refund_payment": "vendor_refund_payments",
}


def resource_name(name: str) -> str:
    """The canonical resource name for ``name`` (``"bill-payments"`` → ``"bill_payments"``)."""
    key = name.strip().strip("/").replace("-", "_").lower()
    key = ALIASES.get(key, key)
    if key not in RESOURCES:
        raise KeyError(f"unknown resource {name!r}; use one of {', '.join(RESOURCES)}")
    return key


class Store:
    """All records of one fake, keyed by resource then id, with per-scope external_id indexes.

    The external_id scope is the partner for businesses and the business for everything else.
    """

    def __init__(self, clock: Callable[[], float]):
        self.clock = clock
        self.partners: dict[str, str] = {}
        self.clear()

    def clear(self) -> None:
        """Forget every record (partners stay registered)."""
        self.tables: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in RESOURCES}
        #: (resource, business_id) -> {id: record}, so per-business lists do not scan everything.
        self.by_business: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
        self.external_ids: dict[tuple[str, str], dict[str, str]] = {}
        #: (partner, business, path, key) -> (body fingerprint, stored response body)
        self.idempotency: dict[tuple[str, str, str, str], tuple[bytes, Any]] = {}
        self._numbers = itertools.count(1)

    # -- time and ids ------------------------------------------------------------------------

    def now(self) -> str:
        """The fake clock as an ISO-8601 UTC timestamp (``2025-01-15T10:00:00.000000Z``)."""
        moment = datetime.fromtimestamp(self.clock(), tz=timezone.utc)
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    def today(self) -> str:
        return datetime.fromtimestamp(self.clock(), tz=timezone.utc).strftime("%Y-%m-%d")

    @staticmethod
    def new_id() -> str:
        return str(uuid.uuid4())

    def next_number(self) -> int:
        return next(self._numbers)

    # -- records -----------------------------------------------------------------------------

    def get(self, resource: str, record_id: str, business_id: str | None = None) -> dict | None:
        """The record, or None when unknown or (with ``business_id``) in another business."""
        record = self.tables[resource].get(record_id)
        if record is None or (business_id is not None and record.get("business_id") != business_id):
            return None
        return record

    def existing(self, resource: str, ids: list[str]) -> list[dict[str, Any]]:
        """The records of ``ids`` still present (``remove_record`` may have taken some)."""
        table = self.tables[resource]
        return [table[i] for i in ids if i in table]

    def by_external_id(self, resource: str, scope: str, external_id: Any) -> dict | None:
        if external_id in (None, ""):
            return None
        record_id = self.external_ids.get((resource, scope), {}).get(str(external_id))
        return self.tables[resource].get(record_id) if record_id else None

    def insert(self, resource: str, record: dict[str, Any], scope: str) -> dict[str, Any]:
        """Store a new record (``id``, timestamps added) and index its external_id in ``scope``."""
        now = self.now()
        record.setdefault("id", self.new_id())
        record.setdefault("created_at", now)
        record.setdefault("updated_at", now)
        record["_scope"] = scope
        self.tables[resource][record["id"]] = record
        if record.get("business_id"):
            self.by_business.setdefault((resource, record["business_id"]), {})[record["id"]] = (
                record
            )
        if record.get("external_id") not in (None, ""):
            self.external_ids.setdefault((resource, scope), {})[str(record["external_id"])] = (
                record["id"]
            )
        return record

    def reindex(self, resource: str, record: dict[str, Any], old_external_id: Any) -> None:
        """Move a record's index entry after its external_id changed (invoice/bill PUT)."""
        index = self.external_ids.setdefault((resource, record["_scope"]), {})
        if old_external_id not in (None, "") and index.get(str(old_external_id)) == record["id"]:
            del index[str(old_external_id)]
        if record.get("external_id") not in (None, ""):
            index[str(record["external_id"])] = record["id"]

    def remove(self, resource: str, record_id: str) -> dict[str, Any]:
        """Take a record out of every table and index (KeyError when unknown)."""
        record = self.tables[resource].pop(record_id)
        if record.get("business_id"):
            self.by_business.get((resource, record["business_id"]), {}).pop(record_id, None)
        index = self.external_ids.get((resource, record["_scope"]), {})
        if index.get(str(record.get("external_id"))) == record_id:
            del index[str(record["external_id"])]
        return record

    def touch(self, record: dict[str, Any]) -> None:
        record["updated_at"] = self.now()

    def all(self, resource: str, business_id: str | None = None) -> list[dict[str, Any]]:
        """Records of ``resource`` in creation order, optionally only one business's."""
        if business_id is None:
            return list(self.tables[resource].values())
        if resource == "businesses":
            record = self.tables[resource].get(business_id)
            return [record] if record else []
        return list(self.by_business.get((resource, business_id), {}).values())


def public(record: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``record`` without the private ``_`` keys."""
    return {k: v for k, v in record.items() if not k.startswith("_")}
