"""Turning an error response into a typed exception.

Thredfi documents three error-body shapes (digest §5), and a proxy in front of it can answer with
an HTML page. All of them end up as one exception class per status with the server's
``error_code``, a human message, per-field errors and ``request_id`` filled in when present.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import html
import re
import time
from collections.abc import Iterable
from typing import Any

import requests

from ..exceptions import ThredfiAPIError, ThredfiRateLimitError, exception_for_status
from ..redaction import redact
from .transport import body_text, detached

#: Longest piece of a non-JSON body quoted in a message.
SNIPPET_LENGTH = 200
#: How much of a non-JSON body is searched for that piece.
SNIPPET_SOURCE = 4096
# Searched separately (the first opening tag, then the first closing one after it): one regex
# spanning both retried the closing search from every "<title>" of a page made of them.
_TITLE_OPEN = re.compile(r"<title[^<>]*>", re.IGNORECASE)
_TITLE_CLOSE = re.compile(r"</title\s*>", re.IGNORECASE)
_TAG = re.compile(r"<[^<>]*>")


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP-date; else None."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if seconds == seconds else None  # NaN is not a delay
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; an offset-less one still means GMT
        when = when.replace(tzinfo=dt.timezone.utc)
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


def _field_errors(value: Any, prefix: str = "") -> dict[str, list[str]]:
    """``{"field": ["msg", ...]}`` from DRF-style error maps, flattening nested ones."""
    errors: dict[str, list[str]] = {}
    if isinstance(value, dict):
        for key, inner in value.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            errors.update(_field_errors(inner, name))
    elif isinstance(value, list):
        if all(not isinstance(item, (dict, list)) for item in value):
            errors[prefix or "non_field_errors"] = [str(item) for item in value]
        else:  # a list of nested objects, e.g. line_items: [{}, {"unit_price": [...]}]
            for index, item in enumerate(value):
                errors.update(_field_errors(item, f"{prefix}.{index}" if prefix else str(index)))
    elif value not in (None, ""):
        errors[prefix or "non_field_errors"] = [str(value)]
    return errors


def snippet(response: requests.Response) -> str:
    """A short readable piece of a non-JSON body: an HTML page's title, else its text."""
    text = body_text(response, SNIPPET_SOURCE)
    opening = _TITLE_OPEN.search(text)
    closing = _TITLE_CLOSE.search(text, opening.end()) if opening else None
    if opening and closing:
        text = text[opening.end() : closing.start()]
    else:
        text = _TAG.sub(" ", text)
    text = "".join(ch if ch.isprintable() else " " for ch in html.unescape(text)[:SNIPPET_SOURCE])
    text = " ".join(text.split())
    if len(text) > SNIPPET_LENGTH:
        text = text[:SNIPPET_LENGTH] + "…"
    return text


def parse_error_body(
    response: requests.Response,
) -> tuple[str, str | None, dict[str, Any], str | None]:
    """(message, error_code, field_errors, request_id) from any documented error shape."""
    request_id = response.headers.get("X-Request-ID") or response.headers.get("X-Request-Id")
    try:
        body = response.json()
    except (ValueError, RecursionError):
        content_type = response.headers.get("Content-Type", "unknown content type")
        quoted = snippet(response)
        message = f"non-JSON error body ({content_type.split(';')[0]})"
        return (f"{message}: {quoted}" if quoted else message), None, {}, request_id
    if not isinstance(body, dict):
        return "", None, _field_errors(body), request_id
    error_code = body.get("error_code") or body.get("code")
    request_id = body.get("request_id") or request_id
    message = ""
    for key in ("message", "error", "detail"):
        if isinstance(body.get(key), str) and body[key]:
            message = body[key]
            break
    field_errors: dict[str, list[str]] = {}
    for key in ("details", "detail", "errors"):
        if isinstance(body.get(key), (dict, list)):
            field_errors.update(_field_errors(body[key]))
    known = {"error_code", "code", "message", "error", "detail", "details", "errors", "request_id"}
    if not known & set(body):
        # Plain DRF serializer errors: {"field": ["msg"], ...}
        field_errors = _field_errors(body)
    if isinstance(error_code, (dict, list)):
        error_code = None
    return message, (str(error_code) if error_code else None), field_errors, request_id


def error_from_response(
    response: requests.Response, method: str, path: str, *, secrets: Iterable[str | None] = ()
) -> ThredfiAPIError:
    """The typed exception for an error ``response`` (not raised; the caller raises it)."""
    secrets = list(secrets)
    message, error_code, field_errors, request_id = parse_error_body(response)
    message = redact(message, secrets)
    field_errors = {
        redact(field, secrets): [redact(msg, secrets) for msg in msgs]
        for field, msgs in field_errors.items()
    }
    cls = exception_for_status(response.status_code)
    kwargs: dict[str, Any] = {
        "status_code": response.status_code,
        "error_code": error_code,
        "field_errors": field_errors,
        "request_id": request_id,
        "response": detached(response, secrets),
        "method": method,
        "path": path,
    }
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    if issubclass(cls, ThredfiRateLimitError):
        kwargs["retry_after"] = retry_after
    exc = cls(message or response.reason or "", **kwargs)
    if retry_after is not None and not hasattr(exc, "retry_after"):
        # RFC 9110 allows Retry-After on 503 too; the engine reads it with getattr().
        exc.retry_after = retry_after  # type: ignore[attr-defined]
    return exc
