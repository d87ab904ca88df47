"""FakeThredfi: a stateful in-memory emulator of the Thredfi Partner API.

``handle()`` is the whole server: it takes a method, path, headers and body and returns
``(status, headers, body_bytes)``, with no Django and no sockets. Two transports wrap it:
``mock()`` (the ``responses`` library, in-process) and ``serve()`` (a real threaded HTTP server).
All state sits behind one lock, so a web server and Celery workers may hit it at once.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from . import handlers
from .auth import Token, TokenBook
from .control import control, refusal
from .errors import ApiError, ConnectionDropped, error
from .faults import Fault, Faults, fault_body
from .routes import Call, Route, match
from .store import Store, resource_name

if TYPE_CHECKING:
    from .server import FakeServer

JSON = {"Content-Type": "application/json"}
logger = logging.getLogger("thredfi_django.testing")


class Stats(dict):
    """A snapshot of the counters; keys also readable as attributes (``stats.total_requests``).

    ``requests``: per endpoint template, e.g. ``"POST /v1/platform/businesses/{business_id}/
    invoices/"``; ``total_requests``; ``tokens_issued``: ``{"partner", "business"}``; ``faults``:
    per kind (``server_error``, ``rate_limit``, ``drop``, ``slow``, ``status``).
    """

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class FakeThredfi:
    """The fake Thredfi API. See the package docstring for the public API."""

    def __init__(
        self,
        base_url: str = "https://sandbox.thredfi.com",
        token_ttl: int = 3600,
        clock: Callable[[], float] = time.time,
    ):
        self.base_url = base_url.rstrip("/")
        self.token_ttl = int(token_ttl)
        self.clock = clock
        #: How ``slow`` faults wait; tests may replace it to record delays instead of sleeping.
        self.sleep: Callable[[float], None] = time.sleep
        self.lock = threading.RLock()
        self.store = Store(clock)
        self.tokens = TokenBook()
        self.faults = Faults()
        #: What a repeated external_id create answers: "200" (existing record), "409", or
        #: "duplicate": on the resources without a documented Idempotency-Key
        #: (handlers.common.UNGUARDED) a second record is created, as a server that does not
        #: deduplicate them would, so "look up by external_id before retrying" can be tested.
        self.duplicate_mode = "200"
        #: The URL of the last server started by ``serve()`` (None before).
        self.url: str | None = None
        #: List envelope: "page_info" (API reference) or "next" (pagination guide).
        self.pagination_style = "page_info"
        #: Invoice/bill line schema accepted: "guide" or "reference" (handlers/lines.py).
        self.line_schema = "guide"
        self._reset_counters()
        handlers.load()

    # -- setup -------------------------------------------------------------------------------

    def add_partner(self, partner_uuid: str, api_key: str) -> None:
        """Register (or re-key) a partner whose credentials the token endpoint accepts."""
        with self.lock:
            self.store.partners[str(partner_uuid)] = str(api_key)

    def add_business(self, partner_uuid: str, **fields: Any) -> dict[str, Any]:
        """Create a business for ``partner_uuid`` directly (no HTTP, not counted); its record.

        Defaults fill the required fields; pass any create-body field to override.
        """
        with self.lock:
            if str(partner_uuid) not in self.store.partners:
                raise ValueError(f"unknown partner {partner_uuid!r}; call add_partner() first")
            n = len(self.store.tables["businesses"]) + 1
            body = {
                "external_id": f"seed-business-{n}",
                "legal_name": f"Seed Business {n} Ltd",
                "entity_type": "limited",
                "email": f"owner{n}@example.com",
                "country": "GB",
                "base_currency": "GBP",
                **fields,
            }
            _, payload = self._direct(partner_uuid, "POST", "/businesses/", body)
            payload.pop("_meta", None)
            return payload

    def _direct(self, partner_uuid: str, method: str, template: str, body: dict) -> tuple:
        route, params, _ = match(method, "/v1/platform" + template)
        token = Token("", str(partner_uuid), None, float("inf"))
        call = Call(self, method, route.template, {}, {}, json.dumps(body).encode(), params,
                    route, self.base_url, token=token)  # fmt: skip
        try:
            return route.handler(call)
        except ApiError as exc:
            raise ValueError(f"{method} {template}: {json.dumps(exc.body)}") from None

    def reset(self) -> None:
        """Forget records, tokens, faults and counters; registered partners stay."""
        with self.lock:
            self.store.clear()
            self.tokens.clear()
            self.faults = Faults()
            self.duplicate_mode = "200"
            self.pagination_style = "page_info"
            self.line_schema = "guide"
            self._reset_counters()

    def expire_tokens(self) -> None:
        """Every token issued so far answers 401 ``invalid_token`` from now on."""
        with self.lock:
            self.tokens.expire_all()

    def set_faults(self, **settings: Any) -> None:
        """Random faults by rate; see :mod:`thredfi_django.testing.faults`. All 0 = off."""
        with self.lock:
            one_shots = self.faults.one_shots
            self.faults.configure(**settings)
            self.faults.one_shots = one_shots

    def fail_next(
        self,
        count: int = 1,
        status: int | str = 500,
        path_contains: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        """The next ``count`` matching requests fail with ``status`` (or ``"drop"``: applied,
        then the connection is dropped). 429 answers carry ``Retry-After``."""
        with self.lock:
            self.faults.add_one_shot(count, status, path_contains, retry_after)

    # -- inspection --------------------------------------------------------------------------

    @property
    def stats(self) -> Stats:
        with self.lock:
            return Stats(
                total_requests=self._total,
                requests=dict(self._requests),
                tokens_issued=dict(self._tokens_issued),
                faults=dict(self._faults),
            )

    def records(self, resource: str, business_id: str | None = None) -> list[dict[str, Any]]:
        """Every stored record of ``resource`` (e.g. ``"invoices"``), as the API renders it."""
        name = resource_name(resource)
        with self.lock:
            render = handlers.RENDERERS[name]
            # A JSON round trip: callers get exactly what the API would send, and cannot
            # change the store through shared nested lists.
            return json.loads(
                json.dumps([render(self.store, r) for r in self.store.all(name, business_id)])
            )

    def remove_record(self, resource: str, record_id: str) -> dict[str, Any]:
        """Delete a record as if someone removed it on Thredfi's side; its rendered form.

        Only the record goes: records pointing at it keep their ids (as a real deletion would
        leave them dangling). Raises KeyError for an unknown id.
        """
        name = resource_name(resource)
        with self.lock:
            record = self.store.tables[name][record_id]
            rendered = json.loads(json.dumps(handlers.RENDERERS[name](self.store, record)))
            self.store.remove(name, record_id)
            return rendered

    def documents(self, resource: str, record_id: str) -> list[dict[str, Any]]:
        """The documents (PDFs) stored on a record, in the order received: ``document_type``,
        ``file_name``, ``mime_type``, ``content`` (bytes), ``document_id``."""
        with self.lock:
            record = self.store.tables[resource_name(resource)][record_id]
            return [
                {k: v for k, v in doc.items() if k != "url_base"}
                for doc in record.get("_documents", ())
            ]

    def count_by_external_id(self, resource: str, business_id: str | None = None) -> dict:
        """``{external_id: number of records}`` — for "exactly one remote record" checks."""
        counts: Counter[str] = Counter()
        for record in self.records(resource, business_id):
            if record.get("external_id") not in (None, ""):
                counts[str(record["external_id"])] += 1
        return dict(counts)

    # -- transports --------------------------------------------------------------------------

    @contextmanager
    def mock(self) -> Iterator[Any]:
        """Route every ``requests`` call under ``base_url`` to this fake (``responses``)."""
        from .responses_adapter import mocked

        with mocked(self) as rsps:
            yield rsps

    def serve(
        self, host: str = "127.0.0.1", port: int = 0, allow_remote: bool = False
    ) -> FakeServer:
        """Start a real threaded HTTP server in a background thread; ``.url``, ``.stop()``."""
        from .server import FakeServer

        server = FakeServer(self, host, port, allow_remote=allow_remote).start()
        self.url = server.url
        return server

    # -- the core ----------------------------------------------------------------------------

    def issue_token(self, partner_uuid: str, business_id: str | None) -> Token:
        self._tokens_issued["partner" if business_id is None else "business"] += 1
        return self.tokens.issue(partner_uuid, business_id, self.token_ttl, self.clock())

    def handle(
        self,
        method: str,
        path_with_query: str,
        headers: dict[str, str] | None = None,
        body: bytes | str | None = b"",
        *,
        base_url: str | None = None,
        client_host: str | None = None,
        control_token: str | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        """Answer one request. Raises :class:`ConnectionDropped` for a dropped connection.

        ``client_host`` (None in-process) and ``control_token`` guard the control endpoints.
        """
        method = method.upper()
        parts = urlsplit(path_with_query)
        path, query_string = parts.path or "/", parts.query
        raw = body.encode() if isinstance(body, str) else (body or b"")
        lowered = {str(k).lower(): str(v) for k, v in (headers or {}).items()}
        request_id = uuid.uuid4().hex
        if path.startswith("/__fake__/"):
            refused = refusal(method, lowered, client_host, control_token)
            status, payload = refused or control(self, method, path, query_string, raw)
            return status, {**JSON, "X-Request-Id": request_id}, json.dumps(payload).encode()
        route, params, known = match(method, path)
        with self.lock:
            self._total += 1
            self._requests[f"{method} {route.template}" if route else f"{method} (unmatched)"] += 1
            fault = self.faults.pick(path)
            if fault is not None:
                self._count_fault(fault)
        if fault is not None and fault.delay:
            self.sleep(fault.delay)
        if fault is not None and fault.kind in ("server_error", "rate_limit", "status"):
            fault_headers, fault_payload = fault_body(fault, request_id)
            return fault.status, {**fault_headers, "X-Request-Id": request_id}, fault_payload
        link_base = (base_url or self.base_url).rstrip("/")
        with self.lock:
            status, extra, payload = self._dispatch(
                method, path, query_string, lowered, raw, route, params, known, link_base
            )
            if isinstance(payload, dict) and "message" in payload and "error" not in payload:
                payload.setdefault("request_id", request_id)
            # Encoded under the lock: rendered records share nested lists with the store.
            content = b"" if status == 204 else json.dumps(payload).encode()
        if fault is not None and fault.kind == "drop":
            raise ConnectionDropped(f"{method} {path} applied, then the connection was dropped")
        return status, {**JSON, **extra, "X-Request-Id": request_id}, content

    def _count_fault(self, fault: Fault) -> None:
        if fault.kind:
            self._faults[fault.kind] += 1
        if fault.delay:
            self._faults["slow"] += 1

    def _dispatch(self, method, path, query_string, headers, raw, route: Route | None, params,
                  known, link_base) -> tuple[int, dict[str, str], Any]:  # fmt: skip
        try:
            if route is None:
                if known:
                    raise error(405, "method_not_allowed", f"Method {method} not allowed here.")
                raise error(404, "not_found", f"No endpoint at {path}.")
            query = dict(parse_qsl(query_string, keep_blank_values=True))
            call = Call(self, method, path, query, headers, raw, params, route, link_base)
            self._authenticate(call)
            if route.idempotency_key and headers.get("idempotency-key"):
                return self._with_idempotency_key(call)
            status, payload = route.handler(call)
            return status, {}, payload
        except ApiError as exc:
            return exc.status, exc.headers, exc.body
        except Exception as exc:
            # A bug in the fake, not an emulated failure: say so loudly instead of hanging up.
            logger.exception("fake Thredfi failed on %s %s", method, path)
            return 500, {}, {"error_code": "fake_internal_error", "detail": {},
                             "message": f"Bug in the fake Thredfi: {exc!r}"}  # fmt: skip

    def _authenticate(self, call: Call) -> None:
        if call.route.auth == "basic":
            return
        token = self.tokens.bearer(call.headers, self.clock())
        call.token = token
        if call.route.auth == "partner" and token.business_id is not None:
            raise error(
                403,
                "permission_denied",
                "This endpoint needs the partner token; a business-scoped token cannot call it.",
            )
        if call.route.auth == "business_token" and token.business_id is None:
            raise error(
                403,
                "permission_denied",
                "This endpoint needs a business-scoped token; mint one with "
                "POST /v1/platform/{business_id}/oauth2/token/.",
            )
        business_id = call.params.get("business_id")
        if business_id is None:
            return
        # Kept lenient on purpose: "business" routes also take the owning partner's token, which
        # the API reference documents for them (the guides say business token only, digest §10
        # q4); a client the fake accepted would then fail on neither reading.
        if token.business_id is not None and token.business_id != business_id:
            raise error(
                403,
                "permission_denied",
                f"This token is scoped to business {token.business_id}, not {business_id}.",
            )
        business = self.store.get("businesses", business_id)
        if business is None or business["_partner"] != token.partner_uuid:
            raise error(404, "business_not_found", f"Business {business_id} not found.")
        call.business = business

    def _with_idempotency_key(self, call: Call) -> tuple[int, dict[str, str], Any]:
        """Replay a stored answer with 200. The same key with a different body is a 409
        ``idempotency_key_conflict`` (undocumented, §10 q8; Stripe answers the same way).
        Keys are scoped per partner + business + path; only successful answers are stored."""
        key = (
            call.token.partner_uuid,
            call.business_id,
            call.path.rstrip("/"),
            call.headers["idempotency-key"],
        )
        fingerprint = json.dumps(call.body(), sort_keys=True, default=str).encode()
        stored = self.store.idempotency.get(key)
        if stored is not None:
            if stored[0] != fingerprint:
                raise error(
                    409,
                    "idempotency_key_conflict",
                    "This Idempotency-Key was already used with a different request body.",
                    {"idempotency_key": key[3]},
                )
            return 200, {"Idempotent-Replayed": "true"}, json.loads(stored[1])
        status, payload = call.route.handler(call)
        if 200 <= status < 300:
            self.store.idempotency[key] = (fingerprint, json.dumps(payload))
        return status, {}, payload

    def _reset_counters(self) -> None:
        self._total = 0
        self._requests: Counter[str] = Counter()
        self._tokens_issued: Counter[str] = Counter(partner=0, business=0)
        self._faults: Counter[str] = Counter()
