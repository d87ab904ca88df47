"""Route table of the fake: documented path templates mapped to handler functions.

Handlers register with :func:`route`; a path matches with or without its trailing slash
(the reference always writes one, the widget omits it on some list paths — digest §1).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from .errors import field_error
from .forms import parse_multipart

if TYPE_CHECKING:
    from .auth import Token
    from .fake import FakeThredfi
    from .store import Store

API = "/v1/platform"

#: auth kinds: "basic" (handler authenticates itself), "partner" (partner token only),
#: "business" (business token of that business, or the owning partner's token: the reference
#: documents the partner token for these, the guides the business token; digest §3 "B/P?"),
#: "business_token" (that business's token only: the reference pages marked "B!").
Handler = Callable[["Call"], tuple[int, Any]]


@dataclass
class Route:
    method: str
    template: str
    handler: Handler
    auth: str
    regex: re.Pattern[str]
    #: Honour the Idempotency-Key header (replay the stored response with 200).
    idempotency_key: bool = False


@dataclass
class Call:
    """One request as a handler sees it."""

    fake: FakeThredfi
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    raw_body: bytes
    params: dict[str, str]
    route: Route
    link_base: str
    token: Token | None = None
    business: dict[str, Any] | None = None
    _body: Any = field(default=None, repr=False)

    @property
    def store(self) -> Store:
        return self.fake.store

    @property
    def business_id(self) -> str:
        return self.params["business_id"]

    def body(self) -> dict[str, Any]:
        """The request body as a dict: JSON, form-encoded or multipart (``forms.py``); empty
        body → ``{}``."""
        if self._body is None:
            self._body = parse_body(self.raw_body, self.headers.get("content-type", ""))
        return self._body


def parse_body(raw: bytes, content_type: str) -> dict[str, Any]:
    if not raw or not raw.strip():
        return {}
    if "application/x-www-form-urlencoded" in content_type:
        return dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
    if "multipart/form-data" in content_type:
        return parse_multipart(raw, content_type)
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise field_error("non_field_errors", "The request body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise field_error("non_field_errors", "The request body must be a JSON object.")
    return data


ROUTES: list[Route] = []


def route(method: str, template: str, auth: str = "business", idempotency_key: bool = False):
    """Register the decorated function for ``method`` + ``template`` (relative to /v1/platform)."""

    def register(func: Handler) -> Handler:
        full = API + template
        pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", full.rstrip("/"))
        ROUTES.append(Route(method, full, func, auth, re.compile(pattern + "/?$"), idempotency_key))
        # Literal segments win over placeholders (``invoices/payments/`` before
        # ``invoices/{invoice_id}/``): fewer placeholders first; the sort is stable.
        ROUTES.sort(key=lambda r: r.template.count("{"))
        return func

    return register


def match(method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
    """``(route, path params, path_known)``; ``path_known`` tells 405 from 404."""
    path_known = False
    for candidate in ROUTES:
        found = candidate.regex.match(path)
        if found is None:
            continue
        if candidate.method == method:
            return candidate, found.groupdict(), True
        path_known = True
    return None, {}, path_known
