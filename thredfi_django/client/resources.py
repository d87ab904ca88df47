"""Thredfi's collections, each declared as a path plus the operations it supports.

A resource is a class combining operation mixins with :class:`Resource`; adding one is a few
lines::

    class CustomerCredits(Create, List, Retrieve, Resource):
        path = "customer-credits/"

    BusinessScope.customer_credits = collection(CustomerCredits)   # or declare it in the class

An operation a collection does not declare simply does not exist on it (AttributeError).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote

from ..exceptions import ThredfiMalformedResponseError, ThredfiValidationError
from . import pagination

if TYPE_CHECKING:
    from .api import ThredfiClient

logger = logging.getLogger("thredfi_django.client")

#: Every API path starts here (digest §1).
API_ROOT = "/v1/platform/"


def path_segment(value: Any, what: str = "id") -> str:
    """``value`` quoted as one URL path segment; an empty id is a clear error, not a list call."""
    text = "" if value is None else str(value).strip()
    if not text:
        raise ValueError(f"a Thredfi {what} is required here, got {value!r}")
    return quote(text, safe="")


class Record(dict[str, Any]):
    """A decoded JSON object; ``http_status`` tells a create (201) from an adoption (200)."""

    def __init__(self, data: Any = (), *, http_status: int | None = None):
        super().__init__(data)
        self.http_status = http_status

    @property
    def created(self) -> bool:
        """True when the server answered 201 Created (False for 200: existing or replayed)."""
        return self.http_status == 201


def checked_record(
    body: Any,
    *,
    method: str,
    path: str,
    external_id: Any = None,
) -> Record:
    """``body`` if it is a record: an object whose ``id`` is a UUID and, when ``external_id`` is
    given and the answer names one, the same ``external_id``. Anything else is a
    :class:`ThredfiMalformedResponseError`; a success is never trusted for its status alone.
    """
    status = getattr(body, "http_status", None)

    def malformed(problem: str) -> ThredfiMalformedResponseError:
        return ThredfiMalformedResponseError(problem, status_code=status, method=method, path=path)

    if not isinstance(body, dict):
        shown = "null or no body" if body is None else f"a JSON {type(body).__name__}"
        raise malformed(f"expected a record (a JSON object), got {shown}")
    record_id = body.get("id")
    if record_id in (None, ""):
        raise malformed(f"the record has no id (keys: {', '.join(sorted(map(str, body))[:10])})")
    try:
        uuid.UUID(str(record_id))
    except ValueError:
        raise malformed(f"the record's id {str(record_id)[:60]!r} is not a UUID") from None
    answered = body.get("external_id")
    if external_id is not None and answered is not None and str(answered) != str(external_id):
        raise malformed(
            f"sent external_id {str(external_id)[:100]!r}, got back the record of "
            f"{str(answered)[:100]!r}"
        )
    return body if isinstance(body, Record) else Record(body, http_status=status)


class Resource:
    """One collection, e.g. the customers of a business.

    ``path`` is relative to the scope root (``/v1/platform/`` for businesses,
    ``/v1/platform/businesses/{business_id}/`` for the rest) and may name further path
    variables (``{refund_id}``). ``business_id`` selects the token: None means the partner token.
    """

    path: ClassVar[str]
    #: Query parameters tried by find_by_external_id (the match is always verified locally).
    external_id_filters: ClassVar[tuple[str, ...]] = ("external_id",)
    #: Extra query parameters for find_by_external_id (e.g. include archived records).
    find_params: ClassVar[dict[str, str]] = {}

    def __init__(self, client: ThredfiClient, root: str, business_id: str | None, **path_vars: Any):
        self.client = client
        self.business_id = business_id
        quoted = {name: path_segment(value, name) for name, value in path_vars.items()}
        self.base_path = root + self.path.format(**quoted)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.base_path}>"

    def _path(self, record_id: Any = None, action: str | None = None) -> str:
        path = self.base_path
        if record_id is not None or action is not None:
            path += path_segment(record_id, f"{type(self).__name__} id") + "/"
        if action:
            path += action + "/"
        return path

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.client.request(method, path, business_id=self.business_id, **kwargs)

    #: Where an answer of several records holds the one this resource is about (that one is
    #: checked; the whole answer is returned).
    answer_record: ClassVar[str | None] = None

    def _record(self, method: str, path: str, **kwargs: Any) -> Record:
        return self._checked(self._call(method, path, **kwargs), method, path)

    def _record_or_none(self, method: str, path: str, **kwargs: Any) -> Record | None:
        """Like ``_record``, and a 204 No Content (no body) is an acceptable answer."""
        body = self._call(method, path, **kwargs)
        return None if body is None else self._checked(body, method, path)

    def _checked(
        self, answer: Any, method: str, path: str, *, external_id: str | None = None
    ) -> Record:
        part = self.answer_record
        if part and isinstance(answer, dict) and isinstance(answer.get(part), dict):
            checked_record(Record(answer[part]), method=method, path=path, external_id=external_id)
            return answer if isinstance(answer, Record) else Record(answer)
        return checked_record(answer, method=method, path=path, external_id=external_id)


class Create(Resource):
    """``create(data, idempotency_key=None)`` → :class:`Record` (201 new, 200 existing)."""

    #: The key some endpoints wrap the created object in (``{"payment": {...}}``).
    create_envelope: ClassVar[str | None] = None

    def create(self, data: dict[str, Any], *, idempotency_key: str | None = None) -> Record:
        headers = {"Idempotency-Key": str(idempotency_key)} if idempotency_key else None
        path = self._path()
        record = self._call("POST", path, json=data, headers=headers)
        envelope = self.create_envelope
        if envelope and isinstance(record, Record) and isinstance(record.get(envelope), dict):
            record = Record(record[envelope], http_status=record.http_status)
        sent = data.get("external_id") if isinstance(data, dict) else None
        return self._checked(record, "POST", path, external_id=sent)


class List(Resource):
    """``list(**filters)`` iterates over every page; ``find_by_external_id(external_id)``."""

    def list(self, **filters: Any) -> Iterator[dict[str, Any]]:
        path = self._path()
        return pagination.iterate(
            lambda params: self._call("GET", path, params=params), filters, path=path
        )

    def find_by_external_id(self, external_id: str) -> dict[str, Any] | None:
        """The record whose ``external_id`` is exactly ``external_id``, or None.

        Asks the server to filter, and checks every candidate here, so a server that ignores
        the filter (or matches loosely) costs a scan of all pages but never a wrong answer.
        """
        wanted = str(external_id)
        filters = {**self.find_params, **dict.fromkeys(self.external_id_filters, wanted)}
        try:
            match = _first_match(self.list(**filters), wanted)
        except ThredfiValidationError:
            # The server rejects the filter parameter itself: scan unfiltered.
            logger.debug("%s rejected %s; scanning all pages", self._path(), filters)
            match = _first_match(self.list(**self.find_params), wanted)
        # Adopting a match without a usable id would mark a row synced to nothing.
        return None if match is None else checked_record(match, method="GET", path=self._path())


def _first_match(records: Iterator[dict[str, Any]], external_id: str) -> dict[str, Any] | None:
    for record in records:
        if isinstance(record, dict) and str(record.get("external_id")) == external_id:
            return record
    return None


class Retrieve(Resource):
    """``get(id)`` → :class:`Record`."""

    def get(self, record_id: str) -> Record:
        return self._record("GET", self._path(record_id))


class Update(Resource):
    """``update(id, data)`` with PUT, or PATCH where ``update_method`` says so; None for 204."""

    update_method: ClassVar[str] = "PUT"

    def update(self, record_id: str, data: dict[str, Any]) -> Record | None:
        return self._record_or_none(self.update_method, self._path(record_id), json=data)


class Archive(Resource):
    """``archive(id)`` and ``unarchive(id)`` (POST to ``{id}/archive/`` / ``{id}/unarchive/``);
    None for 204 No Content."""

    def archive(self, record_id: str, data: dict[str, Any] | None = None) -> Record | None:
        return self._record_or_none("POST", self._path(record_id, "archive"), json=data or {})

    def unarchive(self, record_id: str, data: dict[str, Any] | None = None) -> Record | None:
        return self._record_or_none("POST", self._path(record_id, "unarchive"), json=data or {})


class Void(Resource):
    """``void(id)`` (POST to ``{id}/void/``); None for 204 No Content."""

    def void(self, record_id: str, data: dict[str, Any] | None = None) -> Record | None:
        return self._record_or_none("POST", self._path(record_id, "void"), json=data or {})


class Delete:
    """``delete(id)`` (DELETE ``{id}/``; no body in the answer)."""

    def delete(self: Any, record_id: str) -> None:
        self._call("DELETE", self._path(record_id))


class Cancel(Resource):
    """``cancel(id)`` (POST to ``{id}/delete/``: a state change, so a POST, per the reference)."""

    def cancel(self, record_id: str) -> dict[str, Any]:
        """Answers a status report (``payment_id``, ``status``), not the payment itself."""
        answer: dict[str, Any] = self._call("POST", self._path(record_id, "delete"), json={})
        return answer


# -- the collections ------------------------------------------------------------------------


class Businesses(Create, List, Retrieve, Update, Resource):
    """``/v1/platform/businesses/`` — partner token; create is idempotent on external_id."""

    path = "businesses/"
    update_method = "PATCH"


class Customers(Create, List, Retrieve, Archive, Resource):
    path = "customers/"
    # customer_external_id is the documented customer-list filter (digest §6).
    external_id_filters = ("external_id", "customer_external_id")
    # An archived customer still owns its external_id: a lookup must see it.
    find_params = {"include_archived": "true"}


class Invoices(Create, List, Retrieve, Update, Void, Resource):
    path = "invoices/"


class Payments(Create, List, Retrieve, Resource):
    """Invoice payments; create answers ``{"payment": {...}}``, unwrapped here."""

    path = "invoices/payments/"
    create_envelope = "payment"
    # `search` is documented to match external_id among other fields.
    external_id_filters = ("external_id", "search")


class Refunds(Create, List, Retrieve, Resource):
    path = "invoices/refunds/"


class RefundPayments(Create, List, Resource):
    path = "invoices/refunds/{refund_id}/payments/"


class Vendors(Create, List, Retrieve, Archive, Resource):
    path = "vendors/"
    find_params = {"include_archived": "true"}


class Bills(Create, List, Retrieve, Update, Resource):
    path = "bills/"


class BillPayments(Create, List, Retrieve, Update, Cancel, Resource):
    """Bill payments; only ``pending`` or ``failed`` ones can be cancelled."""

    path = "bills/payments/"
    update_method = "PATCH"


class CustomerCredits(Create, List, Retrieve, Resource):
    """Credit notes for customers, allocated to invoices; idempotent on external_id."""

    path = "customer-credits/"
    external_id_filters = ("external_id", "search")


class VendorCredits(Create, List, Retrieve, Resource):
    """Credit notes from vendors, allocated to bills; idempotent on external_id."""

    path = "vendor-credits/"


class WriteOffs(Resource):
    """Bad-debt write-offs of invoices: ``POST invoices/{invoice_id}/write-offs/`` (the
    widget's endpoint; no list or get is documented)."""

    path = "invoices/"

    def create(self, data: dict[str, Any]) -> Record:
        """Write off part of the invoice ``data["invoice_id"]`` names (it goes into the path,
        not the body)."""
        body = dict(data)
        invoice_id = body.pop("invoice_id", None)
        return self._record("POST", self._path(invoice_id, "write-offs"), json=body)


class VendorRefunds(Create, List, Retrieve, Update, Delete, Resource):
    """Money coming back from a vendor, allocated to bills; 200 + the existing refund on a
    repeated external_id. PATCH updates only its description, memo, reason, metadata and
    expected completion date. Business token only (the reference)."""

    path = "vendor-refunds/"
    update_method = "PATCH"


class VendorRefundPayments(Create, List, Retrieve, Resource):
    """A vendor refund, its payment and its allocations in one request; answers ``{refund,
    payment, allocations}``. Pass ``idempotency_key`` (documented, optional) to retry safely."""

    path = "vendor-refunds/payments/"
    answer_record = "refund"


class Payouts(Create, List, Retrieve, Resource):
    """Processor settlements. Thredfi upserts on ``external_id``: a create repeated with the
    same external_id *updates* the payout (200), until it is reconciled (then 4xx)."""

    path = "payouts/"

    def upsert(self, record_id: str, data: dict[str, Any]) -> Record:
        """Update ``record_id`` by posting its full body again (it carries the external_id)."""
        return self.create(data)


class Accounts(Create, List, Retrieve, Resource):
    """The chart of accounts (ledger accounts with ``code``, ``name``, ``account_type``)."""

    path = "general-ledger/chart-of-accounts/"


class collection:  # noqa: N801 - used like a decorator-style declaration
    """Declares a resource on :class:`BusinessScope`; built on first access, then kept."""

    def __init__(self, resource: type[Resource]):
        self.resource = resource
        self.name: str | None = None  # set by __set_name__ when declared in a class body

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, scope: BusinessScope | None, owner: type) -> Any:
        if scope is None:
            return self
        value = self.resource(scope.client, scope.root, scope.business_id)
        if self.name:
            scope.__dict__[self.name] = value
        return value


class BusinessScope:
    """The collections of one business, all called with that business's token."""

    customers = collection(Customers)
    invoices = collection(Invoices)
    payments = collection(Payments)
    refunds = collection(Refunds)
    vendors = collection(Vendors)
    bills = collection(Bills)
    bill_payments = collection(BillPayments)
    accounts = collection(Accounts)
    payouts = collection(Payouts)
    customer_credits = collection(CustomerCredits)
    vendor_credits = collection(VendorCredits)
    write_offs = collection(WriteOffs)
    vendor_refunds = collection(VendorRefunds)
    vendor_refund_payments = collection(VendorRefundPayments)

    def __init__(self, client: ThredfiClient, business_id: str):
        self.client = client
        self.business_id = business_id
        self.root = f"{API_ROOT}businesses/{path_segment(business_id, 'business id')}/"

    def __repr__(self) -> str:
        return f"<BusinessScope {self.business_id}>"

    def refund_payments(self, refund_id: str) -> RefundPayments:
        """The payments of one refund (``invoices/refunds/{refund_id}/payments/``)."""
        return RefundPayments(self.client, self.root, self.business_id, refund_id=refund_id)

    def token(self) -> dict[str, Any]:
        """``{"access_token", "expires_in"}`` for this business (frontend-safe)."""
        return self.client.business_token(self.business_id)
