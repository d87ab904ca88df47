"""The session's environment, reading one answer within bounds, and keeping only
credential-free copies of an exchange.

A broken or hostile server must not hold a worker or its memory: the body is read in pieces, at
most ``max_bytes`` of it, and reading stops at the request's deadline (``requests``' own read
timeout applies to each read, so an answer that trickles in would otherwise never end).
"""

from __future__ import annotations

import os
import socket
import ssl
import time
from collections.abc import Iterable
from urllib.parse import urlsplit

import requests
import urllib3
from requests.structures import CaseInsensitiveDict

from ..exceptions import ThredfiConfigurationError
from ..redaction import REDACTED, redact

#: Bytes asked for per read; a read returns what has arrived, up to this.
CHUNK = 64 * 1024
#: Headers that carry credentials, whichever direction they travel.
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
#: Most of a body kept on an exception (redact() caps the text further).
KEPT_BYTES = 64 * 1024


class BodyTooLarge(Exception):
    """The answer is longer than the cap."""


class DeadlineExceeded(Exception):
    """The answer did not arrive in full before the request's deadline."""


def read_timeouts(
    timeout: float | tuple[float, float], deadline: float
) -> float | tuple[float, float]:
    """``timeout`` as ``requests`` takes it, no single read outlasting the whole call's deadline."""
    if not isinstance(timeout, (list, tuple)):
        return min(float(timeout), deadline)
    if len(timeout) != 2:
        raise ThredfiConfigurationError(
            f"timeout {tuple(timeout)!r} is neither seconds nor a (connect, read) pair of seconds; "
            "set THREDFI['TIMEOUT'] like (5.0, 30.0)"
        )
    connect, read = timeout
    return min(float(connect), deadline), min(float(read), deadline)


def read_body(
    response: requests.Response, *, deadline_at: float, max_bytes: int, truncate: bool = False
) -> None:
    """Read ``response``'s body (sent with ``stream=True``) into ``response.content``.

    Raises :class:`BodyTooLarge` (unless ``truncate``: then the first ``max_bytes`` are kept),
    :class:`DeadlineExceeded`, or the urllib3/socket error that ended the read; the connection
    is then closed rather than handed back half-read.
    """
    raw = response.raw
    chunks: list[bytes] = []
    size = 0
    try:
        while chunk := raw.read1(CHUNK, decode_content=True):
            size += len(chunk)
            if size > max_bytes:
                if not truncate:
                    raise BodyTooLarge
                chunks.append(chunk[: max_bytes - size])
                break
            chunks.append(chunk)
            if time.monotonic() > deadline_at:
                raise DeadlineExceeded
    except BaseException:
        response.close()
        raise
    if size > max_bytes:
        response.close()  # the rest is unread: the connection cannot be reused
    else:
        raw.release_conn()
    response._content = b"".join(chunks)
    response._content_consumed = True


def network_failure(err: BaseException, url: str) -> str:
    """One line: what failed, and where (host and port), from however deep a chain."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    where = f"{parts.hostname}:{port}"
    root = _root_cause(err)
    if isinstance(root, socket.gaierror):
        return f"cannot resolve host name {parts.hostname!r} (port {port})"
    if isinstance(root, ConnectionRefusedError):
        return f"connection refused by {where}"
    if isinstance(err, requests.ConnectTimeout) or isinstance(
        root, urllib3.exceptions.ConnectTimeoutError
    ):
        return f"timed out connecting to {where}"
    if isinstance(err, requests.Timeout) or isinstance(root, (TimeoutError, socket.timeout)):
        return f"timed out waiting for {where} to answer"
    if isinstance(root, (ssl.SSLError, requests.exceptions.SSLError)):
        return f"TLS with {where} failed: {_first_line(root)}"
    if isinstance(root, (ConnectionResetError, ConnectionAbortedError, BrokenPipeError)):
        return f"{where} closed the connection"
    if type(root).__name__ in ("RemoteDisconnected", "IncompleteRead", "ProtocolError"):
        return f"{where} closed the connection mid-answer"
    return f"{type(root).__name__} talking to {where}: {_first_line(root)}"


def _chain(err: BaseException) -> list[BaseException]:
    """``err`` and the errors it wraps, outermost first (urllib3 nests them in reason/args)."""
    chain: list[BaseException] = []
    current: BaseException | None = err
    while current is not None and all(current is not seen for seen in chain):
        chain.append(current)
        inner = getattr(current, "reason", None)
        if not isinstance(inner, BaseException):
            wrapped = (a for a in getattr(current, "args", ()) if isinstance(a, BaseException))
            inner = next(wrapped, None)
        current = inner or current.__cause__ or current.__context__
    return chain


def _root_cause(err: BaseException) -> BaseException:
    return _chain(err)[-1]


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return (text[0] if text else type(err).__name__)[:160]


def scrubbed_request(
    request: requests.PreparedRequest | None, secrets: Iterable[str | None]
) -> requests.PreparedRequest | None:
    """A copy of ``request`` without credentials: auth headers masked, body redacted."""
    if request is None:
        return None
    secrets = list(secrets)
    copy = requests.PreparedRequest()
    copy.method = request.method
    copy.url = redact(request.url, secrets)
    copy.headers = CaseInsensitiveDict(
        {k: REDACTED if k.lower() in SECRET_HEADERS else v for k, v in request.headers.items()}
    )
    body = request.body
    if isinstance(body, bytes):
        body = body[:KEPT_BYTES].decode("utf-8", "replace")
    copy.body = redact(body, secrets) if isinstance(body, str) else None
    return copy


def detached(response: requests.Response, secrets: Iterable[str | None]) -> requests.Response:
    """A copy of ``response`` safe to keep on an exception: no credentials, no socket, and its
    body redacted (tokens, keys, secrets) and cut to what a person reads."""
    secrets = list(secrets)
    copy = requests.Response()
    copy.status_code = response.status_code
    copy.reason = response.reason
    copy.url = redact(response.url, secrets)
    copy.encoding = response.encoding or "utf-8"
    copy.headers = CaseInsensitiveDict(
        {
            k: redact(v, secrets)
            for k, v in response.headers.items()
            if k.lower() not in SECRET_HEADERS
        }
    )
    copy._content = redact(body_text(response), secrets).encode("utf-8")
    # types-requests says a Response always has a request; Response() starts with None.
    copy.request = scrubbed_request(response.request, secrets)  # type: ignore[assignment]
    copy.elapsed = response.elapsed
    return copy


def body_text(response: requests.Response, limit: int = KEPT_BYTES) -> str:
    """The first ``limit`` bytes of the body as text (no charset guessing over megabytes)."""
    content = (response.content or b"")[:limit]
    try:
        return content.decode(response.encoding or "utf-8", "replace")
    except LookupError:  # a charset Python does not know
        return content.decode("utf-8", "replace")


def scrub_network_error(err: requests.RequestException, secrets: Iterable[str | None]) -> None:
    """Drop the live request and response a ``requests`` error carries (the request has the
    Authorization header), keeping a scrubbed copy, and redact the messages of the whole chain."""
    secrets = list(secrets)
    # requests attaches the PreparedRequest it sent; anything else cannot be scrubbed: dropped.
    sent = err.request if isinstance(err.request, requests.PreparedRequest) else None
    err.request = scrubbed_request(sent, secrets)
    err.response = None
    for inner in _chain(err):
        inner.args = tuple(redact(a, secrets) if isinstance(a, str) else a for a in inner.args)


def settle_environment(session: requests.Session, base_url: str) -> requests.Session:
    """Give ``session`` the proxy and CA bundle the environment names for ``base_url`` now, and
    turn off ``trust_env`` so ``requests`` does not look again on every call.

    Why: with ``trust_env`` on, every request walks ``os.environ`` twice for proxies and reads
    ``~/.netrc`` (measured at 0.2-0.45 ms a request on a 2-vCPU machine, a quarter to a third of
    what ``requests`` costs in all). And a ``~/.netrc`` entry for the Thredfi host would
    replace the Bearer token with Basic auth, so never consulting it is also the correct
    behaviour for an API that authenticates every call explicitly. Environment changes after
    the client is built are not seen (``reset_client()`` builds a new one).
    """
    session.proxies.update(requests.utils.get_environ_proxies(base_url))
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle:
        session.verify = bundle
    session.trust_env = False
    return session
