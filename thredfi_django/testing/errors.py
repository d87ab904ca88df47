"""Error answers of the fake, in the three body shapes Thredfi documents (digest §5).

Handlers raise :class:`ApiError`; the dispatcher turns it into a response. Validation failures
use shape 1 (``error`` + ``error_code`` + ``details`` field map), the entity-type rule shape 3
(string ``detail``) as its guide shows, everything else shape 2 (``error_code`` + ``message`` +
``detail`` + ``request_id``; ``request_id`` is filled in by the dispatcher).
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An HTTP error answer: ``status``, JSON ``body`` and extra ``headers``."""

    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None):
        super().__init__(f"{status} {body.get('error_code')}")
        self.status = status
        self.body = body
        self.headers = headers or {}


class ConnectionDropped(Exception):  # noqa: N818 - names what the client sees, not a failure here
    """Raised by :meth:`FakeThredfi.handle` when the connection is to be dropped without answer.

    The request may already have been applied (``drop`` faults apply the write first). The
    ``responses`` adapter turns it into ``requests.exceptions.ConnectionError``; the HTTP server
    closes the socket without writing anything.
    """


class FieldErrors:
    """Collects ``field -> [messages]`` and raises one shape-1 400 with all of them."""

    def __init__(self) -> None:
        self.details: dict[str, list[str]] = {}

    def add(self, field: str, message: str) -> None:
        self.details.setdefault(field, []).append(message)

    def __bool__(self) -> bool:
        return bool(self.details)

    def raise_if_any(self) -> None:
        if self.details:
            raise validation_error(self.details)


def validation_error(details: dict[str, list[str]]) -> ApiError:
    """Shape 1: ``{"error", "error_code": "validation_error", "details": {field: [msg]}}``."""
    return ApiError(
        400,
        {
            "error": "Validation errors in request data",
            "error_code": "validation_error",
            "details": details,
        },
    )


def field_error(field: str, message: str) -> ApiError:
    return validation_error({field: [message]})


def error(status: int, code: str, message: str, detail: Any = None) -> ApiError:
    """Shape 2: ``{"error_code", "message", "detail", "request_id"}``."""
    return ApiError(
        status,
        {"error_code": code, "message": message, "detail": detail if detail is not None else {}},
    )


def not_found(what: str, record_id: str) -> ApiError:
    code = f"{what.replace(' ', '_')}_not_found"
    return error(404, code, f"No {what} with id {record_id!r} in this business.")
