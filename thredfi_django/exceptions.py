"""Every error thredfi-django raises.

Each error knows whether trying again can help (``transient``); the sync engine decides the next
state from that flag, never from message text. Messages never contain the API key or a token.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured


class ThredfiError(Exception):
    """Base class. ``transient`` is True when the same request may succeed later."""

    transient: bool = False
    #: A short machine-readable kind, stored on the sync state ("validation", "timeout", ...).
    kind: str = "error"


class ThredfiConfigurationError(ThredfiError, ImproperlyConfigured):
    """A missing or wrong setting; the message names the setting to fix."""

    kind = "configuration"


class ThredfiAPIError(ThredfiError):
    """Thredfi answered with an error status.

    Carries the status code, the server's ``error_code``, its human message, the per-field
    errors (``field_errors``: ``{"field": ["message", ...]}``), its ``request_id`` and the
    ``requests.Response``. Parsed from all three documented error-body shapes.
    """

    status_code: int | None = None
    kind = "api"

    def __init__(
        self,
        message: str = "",
        *,
        status_code: int | None = None,
        error_code: str | None = None,
        field_errors: dict[str, list[str]] | None = None,
        request_id: str | None = None,
        response: Any = None,
        method: str | None = None,
        path: str | None = None,
    ):
        if status_code is not None:
            self.status_code = status_code
        self.message = message
        self.error_code = error_code
        self.field_errors = field_errors or {}
        self.request_id = request_id
        self.response = response
        self.method = method
        self.path = path
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.method} {self.path} " if self.method and self.path else ""
        text = f"{where}-> HTTP {self.status_code}"
        if self.error_code:
            text += f" [{self.error_code}]"
        if self.message:
            text += f": {self.message}"
        if self.field_errors:
            fields = "; ".join(
                f"{field}: {' '.join(map(str, msgs))}" for field, msgs in self.field_errors.items()
            )
            text += f" ({fields})"
        if self.request_id:
            text += f" (request_id {self.request_id})"
        return text


class ThredfiValidationError(ThredfiAPIError):
    """400: the request was invalid; fix the data and send again."""

    status_code = 400
    kind = "validation"


class ThredfiAuthenticationError(ThredfiAPIError):
    """401: missing, invalid or expired credentials or token."""

    status_code = 401
    kind = "authentication"


class ThredfiPermissionError(ThredfiAPIError):
    """403: a valid token without the right scope (e.g. another business's token)."""

    status_code = 403
    kind = "permission"


class ThredfiNotFoundError(ThredfiAPIError):
    """404: unknown resource, or a business this partner does not own."""

    status_code = 404
    kind = "not_found"


class ThredfiConflictError(ThredfiAPIError):
    """409: duplicate resource (e.g. external_id) or state conflict."""

    status_code = 409
    kind = "conflict"


class ThredfiRateLimitError(ThredfiAPIError):
    """429: too many requests. ``retry_after`` is the server's Retry-After, in seconds."""

    status_code = 429
    kind = "rate_limited"
    transient = True

    def __init__(self, *args: Any, retry_after: float | None = None, **kwargs: Any):
        self.retry_after = retry_after
        super().__init__(*args, **kwargs)


class ThredfiServerError(ThredfiAPIError):
    """5xx: Thredfi failed; retry with backoff."""

    status_code = 500
    kind = "server"
    transient = True


class ThredfiMalformedResponseError(ThredfiAPIError):
    """Thredfi answered, but not with anything usable: a success without a record, an id that is
    not a UUID, another record than the one sent, HTML or broken JSON, a body over
    ``MAX_RESPONSE_BYTES``, or a redirect (never followed).

    Transient: the write may well have been applied, and nothing is lost by asking again, since
    the engine's retry sends the same external_id and adopts the record it finds by it. A server
    that keeps answering badly runs out of ``MAX_ATTEMPTS`` like any other transient failure.
    """

    kind = "malformed_response"
    transient = True

    def __str__(self) -> str:
        where = f"{self.method} {self.path} " if self.method and self.path else ""
        status = f" (HTTP {self.status_code})" if self.status_code else ""
        return f"{where}-> unusable answer{status}: {self.message}"


class ThredfiNetworkError(ThredfiError):
    """No HTTP answer at all. A write may or may not have been applied: retry idempotently."""

    kind = "network"
    transient = True
    #: The request that got no answer (set by the client), as on ThredfiAPIError.
    method: str | None = None
    path: str | None = None


class ThredfiTimeoutError(ThredfiNetworkError):
    """The request timed out."""

    kind = "timeout"


class ThredfiConnectionError(ThredfiNetworkError):
    """The connection failed or dropped."""

    kind = "connection"


class ThredfiLocalValidationError(ThredfiError):
    """A local object cannot become a valid Thredfi record; nothing was sent.

    ``field_errors`` maps the offending field to messages, as the server's validation errors do.
    """

    kind = "local_validation"

    def __init__(self, message: str = "", field_errors: dict[str, list[str]] | None = None):
        self.message = message
        self.field_errors = field_errors or {}
        super().__init__(str(self))

    def __str__(self) -> str:
        fields = "; ".join(f"{f}: {' '.join(m)}" for f, m in self.field_errors.items())
        return f"{self.message} ({fields})" if fields else self.message


#: The status-code → exception class map the client uses.
STATUS_EXCEPTIONS: dict[int, type[ThredfiAPIError]] = {
    400: ThredfiValidationError,
    401: ThredfiAuthenticationError,
    403: ThredfiPermissionError,
    404: ThredfiNotFoundError,
    409: ThredfiConflictError,
    429: ThredfiRateLimitError,
}


def exception_for_status(status_code: int) -> type[ThredfiAPIError]:
    """The exception class for an HTTP error status (5xx → server error, other 4xx → base)."""
    if status_code >= 500:
        return ThredfiServerError
    return STATUS_EXCEPTIONS.get(status_code, ThredfiAPIError)
