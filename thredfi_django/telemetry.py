"""Prometheus metrics and OpenTelemetry spans of pushes and API requests, each only where its
package is installed (``thredfi-django[metrics]``, ``thredfi-django[otel]``); without them every
function here does nothing.

Fed by the engine's signals (:func:`connect`) and by one-line calls in the client. Metrics follow
prometheus-client's multiprocess mode when ``PROMETHEUS_MULTIPROC_DIR`` is set (Celery's prefork
pool: each child writes its own file, the scrape sums them); ``thredfi_django.metrics`` serves them.
Spans are recorded when the request or push has ended, with its real start and end times, under
whatever span is current (a Celery task's, with opentelemetry-instrumentation-celery).
"""

from __future__ import annotations

import re
import time
from typing import Any

from .signals import sync_failed, sync_succeeded

try:
    import prometheus_client
    import prometheus_client.core
    import prometheus_client.multiprocess
except ImportError:  # the [metrics] extra is not installed
    prometheus_client = None

try:
    from opentelemetry import trace
except ImportError:  # the [otel] extra is not installed
    trace = None

#: Seconds: an API call, and from an object's first save to its record in Thredfi.
REQUEST_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
LAG_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)

if prometheus_client is not None:
    PUSHES = prometheus_client.Counter(
        "thredfi_pushes",
        "Pushes of objects to Thredfi that ended, by resource and outcome "
        "(synced; retry: a transient failure, tried again later; failed: given up or refused).",
        ["resource", "outcome"],
    )
    REQUEST_SECONDS = prometheus_client.Histogram(
        "thredfi_request_seconds",
        "Thredfi API requests: seconds until the whole answer was read, by method, endpoint "
        "(ids replaced by {id}) and HTTP status; requests that got no answer are not counted.",
        ["method", "endpoint", "status"],
        buckets=REQUEST_BUCKETS,
    )
    SYNC_LAG_SECONDS = prometheus_client.Histogram(
        "thredfi_sync_lag_seconds",
        "Seconds from a new object's sync-state row being recorded (its first save, once "
        "committed) to its record being created in Thredfi, by resource.",
        ["resource"],
        buckets=LAG_BUCKETS,
    )
    TOKEN_FETCHES = prometheus_client.Counter(
        "thredfi_token_fetches",
        "Access tokens fetched from Thredfi (cache misses and refreshes), by scope.",
        ["scope"],
    )

#: Path segments that are ids (UUIDs, numbers): one label value per endpoint, not per record.
_ID_SEGMENT = re.compile(r"/(?:[0-9a-fA-F]{8}-[0-9a-fA-F-]{27}|\d+)(?=/|$)")


def endpoint(path: str) -> str:
    """``/v1/platform/<uuid>/invoices/<uuid>/`` -> ``/v1/platform/{id}/invoices/{id}/``."""
    return _ID_SEGMENT.sub("/{id}", path.split("?", 1)[0])


def request_finished(method: str, path: str, status: int, started: float) -> None:
    """An API call was answered (``started``: its ``time.monotonic()``)."""
    seconds = time.monotonic() - started
    route = endpoint(path)
    if prometheus_client is not None:
        REQUEST_SECONDS.labels(method, route, str(status)).observe(seconds)
    _span(
        f"thredfi {method} {route}",
        seconds,
        {"http.request.method": method, "url.path": route, "http.response.status_code": status},
    )


def token_fetched(scope: str) -> None:
    """A token was fetched from Thredfi: ``scope`` is "partner" or "business"."""
    if prometheus_client is not None:
        TOKEN_FETCHES.labels(scope).inc()


def push_finished(resource: str, outcome: str, *, seconds: float, state_id: int | None) -> None:
    """A push ended (see :data:`PUSHES` for the outcomes)."""
    if prometheus_client is not None:
        PUSHES.labels(resource, outcome).inc()
    _span(
        f"thredfi push {resource}",
        seconds,
        {"thredfi.resource": resource, "thredfi.outcome": outcome, "thredfi.state_id": state_id},
    )


def _span(name: str, seconds: float, attributes: dict[str, Any]) -> None:
    if trace is None:
        return
    end = time.time_ns()
    span = trace.get_tracer("thredfi_django").start_span(
        name,
        kind=trace.SpanKind.CLIENT,
        start_time=end - int(seconds * 1e9),
        attributes={key: value for key, value in attributes.items() if value is not None},
    )
    span.end(end_time=end)


def _on_success(sender: Any, state: Any, created: bool = False, **kwargs: Any) -> None:
    push_finished(state.resource, "synced", seconds=_push_seconds(state), state_id=state.pk)
    if created and prometheus_client is not None and state.created_at is not None:
        lag = time.time() - state.created_at.timestamp()
        SYNC_LAG_SECONDS.labels(state.resource).observe(max(lag, 0.0))


def _on_failure(sender: Any, state: Any, will_retry: bool = False, **kwargs: Any) -> None:
    outcome = "retry" if will_retry else "failed"
    push_finished(state.resource, outcome, seconds=_push_seconds(state), state_id=state.pk)


def _push_seconds(state: Any) -> float:
    # The claim stamps ``updated_at``: a push's span runs from its claim to its outcome.
    return max(time.time() - state.updated_at.timestamp(), 0.0) if state.updated_at else 0.0


def connect() -> None:
    """Count pushes from the engine's signals (called by ``AppConfig.ready``)."""
    sync_succeeded.connect(_on_success, dispatch_uid="thredfi_django.telemetry.success")
    sync_failed.connect(_on_failure, dispatch_uid="thredfi_django.telemetry.failure")
