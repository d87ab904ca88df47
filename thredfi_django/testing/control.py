"""``/__fake__/`` control endpoints (never faulted, never counted, no auth).

- ``GET  /__fake__/stats``                      counters (see ``FakeThredfi.stats``)
- ``POST /__fake__/faults``                     JSON = ``set_faults`` kwargs
- ``POST /__fake__/fail-next``                  JSON = ``fail_next`` kwargs
- ``POST /__fake__/reset``                      ``reset()``
- ``POST /__fake__/expire-tokens``              ``expire_tokens()``
- ``POST /__fake__/config``                     ``CONFIG`` names and values below
- ``GET  /__fake__/records/<resource>``         ``records()``, optional ``?business_id=``
- ``POST /__fake__/partners``                   ``{"partner_uuid", "api_key"}``

A running fake is reachable from any web page the developer opens, so control requests are
accepted only from loopback, and a POST only as ``Content-Type: application/json`` (a cross-site
page cannot send that without a CORS preflight, which the fake never grants). A server started
with ``--allow-remote`` requires its per-process token in ``X-Fake-Control-Token`` instead.
"""

from __future__ import annotations

import hmac
import json
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from ..loopback import is_loopback

if TYPE_CHECKING:
    from .fake import FakeThredfi


#: The header carrying the control token of a fake started with ``--allow-remote``.
CONTROL_HEADER = "X-Fake-Control-Token"


def refusal(
    method: str, headers: dict[str, str], client_host: str | None, token: str | None
) -> tuple[int, Any] | None:
    """Why a control request is refused, as ``(status, body)``; None if it is accepted.

    ``headers`` lowercased; ``client_host`` None for in-process calls (``fake.mock()``).
    """
    if token is not None:
        if not hmac.compare_digest(headers.get(CONTROL_HEADER.lower(), ""), token):
            return 403, {"error_code": "control_forbidden",
                         "message": f"Control requests need the {CONTROL_HEADER} header printed "
                                    "when the fake started."}  # fmt: skip
    elif client_host is not None and not is_loopback(client_host):
        return 403, {"error_code": "control_forbidden",
                     "message": "Control requests are accepted from loopback only."}  # fmt: skip
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    if method not in ("GET", "HEAD") and content_type != "application/json":
        return 415, {"error_code": "unsupported_media_type",
                     "message": "Control requests must be sent as application/json "
                                "(e.g. requests.post(url, json={}))."}  # fmt: skip
    return None


#: ``/__fake__/config`` settings and their values.
CONFIG = {
    "duplicate_mode": ("200", "409", "duplicate"),
    "pagination_style": ("page_info", "next"),
    "line_schema": ("guide", "reference"),
}


def control(fake: FakeThredfi, method: str, path: str, query: str, raw: bytes) -> tuple[int, Any]:
    action = path[len("/__fake__/") :].strip("/")
    try:
        body = json.loads(raw) if raw.strip() else {}
        if not isinstance(body, dict):
            raise ValueError("the body must be a JSON object")
        return _route(fake, method, action, parse_qs(query), body)
    except (ValueError, TypeError, KeyError) as exc:
        return 400, {"error_code": "bad_control_request", "message": str(exc)}


def _route(fake: FakeThredfi, method: str, action: str, query: dict, body: dict) -> tuple[int, Any]:
    if method == "GET" and action == "stats":
        return 200, fake.stats
    if method == "GET" and action.startswith("records/"):
        business_id = query.get("business_id", [None])[0]
        return 200, fake.records(action[len("records/") :], business_id)
    if method == "POST":
        if action == "faults":
            fake.set_faults(**body)
            return 200, fake.faults.settings()
        if action == "fail-next":
            fake.fail_next(**body)
            return 200, fake.faults.settings()
        if action == "reset":
            fake.reset()
            return 200, {"reset": True}
        if action == "expire-tokens":
            fake.expire_tokens()
            return 200, {"expired": True}
        if action == "config":
            for name, options in CONFIG.items():
                if name in body:
                    if str(body[name]) not in options:
                        raise ValueError(f"{name} must be one of {options}")
                    setattr(fake, name, str(body[name]))
            return 200, {name: getattr(fake, name) for name in CONFIG}
        if action == "partners":
            fake.add_partner(body["partner_uuid"], body["api_key"])
            return 200, {"partner_uuid": body["partner_uuid"]}
    return 404, {"error_code": "not_found", "message": f"No control endpoint {method} {action}."}
