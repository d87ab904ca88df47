"""``ThredfiClient``: one HTTP session, cached tokens, typed errors.

The client speaks HTTP and nothing else: it knows no Django model and does not retry transient
failures (the sync engine owns retries and backoff). The one exception is authentication: an API
call answered with 401 drops its cached token, fetches a new one and is replayed once.
"""

from __future__ import annotations

import logging
import time
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3
from requests.auth import HTTPBasicAuth
from requests.structures import CaseInsensitiveDict

from .. import __version__, telemetry
from ..exceptions import (
    ThredfiAuthenticationError,
    ThredfiConfigurationError,
    ThredfiConnectionError,
    ThredfiMalformedResponseError,
    ThredfiNetworkError,
    ThredfiTimeoutError,
)
from ..redaction import redact
from .errors import error_from_response, snippet
from .ratelimit import RateLimiter
from .resources import API_ROOT, Businesses, BusinessScope, Record, path_segment
from .tokens import PARTNER_SCOPE, LocalCache, Token, TokenCache, TokenStore
from .transport import (
    BodyTooLarge,
    DeadlineExceeded,
    detached,
    network_failure,
    read_body,
    read_timeouts,
    scrub_network_error,
    settle_environment,
)
from .uploads import carries_upload, form_fields

logger = logging.getLogger("thredfi_django.client")

USER_AGENT = f"thredfi-django/{__version__} python-requests/{requests.__version__}"  # type: ignore[attr-defined]


class ThredfiClient:
    """A client for the Thredfi partner API.

    ``ThredfiClient(partner_uuid, api_key, base_url)``; see :func:`get_client` for the one built
    from settings. ``timeout`` is the ``requests`` (connect, read) timeout, applied to each
    network read of every call, token calls included; ``deadline`` bounds a whole call (seconds)
    and ``max_response_bytes`` the answer's size. Redirects are never followed. ``cache`` holds
    tokens (any object with Django's cache ``get/set/add/delete``); without one, tokens are
    shared by this process only. Tokens are refreshed when fewer than ``token_refresh_margin``
    seconds of their life remain, up to ``token_refresh_jitter`` of their lifetime earlier at
    random (never before half-way). ``token_memo_limit`` tokens are kept in this process's
    memory (the least recently used dropped first).

    Resources: ``client.businesses`` (partner token) and ``client.business(id).customers`` and
    friends (business token) — see :mod:`thredfi_django.client.resources`.

    The session the client makes itself reads the environment once, here: the proxy for
    ``base_url`` (``HTTPS_PROXY``/``HTTP_PROXY``/``ALL_PROXY``, ``NO_PROXY`` honoured) and the CA
    bundle (``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE``), then stops ``requests`` from reading it
    again on every call (``trust_env = False``; see :func:`settle_environment`). A ``session``
    you pass is used as it is.
    """

    def __init__(
        self,
        partner_uuid: str,
        api_key: str,
        base_url: str,
        *,
        timeout: float | tuple[float, float] = (5.0, 30.0),
        deadline: float = 60.0,
        max_response_bytes: int = 10 * 1024 * 1024,
        cache: TokenCache | None = None,
        token_refresh_margin: float = 300,
        token_refresh_jitter: float = 0.1,
        token_memo_limit: int = 10_000,
        session: requests.Session | None = None,
        cache_secret: str = "",
        rate_limit: dict[str, int | None] | None = None,
    ):
        if not partner_uuid or not api_key:
            missing = "PARTNER_UUID" if not partner_uuid else "API_KEY"
            raise ThredfiConfigurationError(
                f"ThredfiClient needs a partner UUID and an API key; {missing} is empty. "
                f"Set THREDFI['{missing}']."
            )
        parts = urlsplit(str(base_url or ""))
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ThredfiConfigurationError(
                f"Thredfi base URL {base_url!r} is not an http(s) URL; set THREDFI['BASE_URL'] "
                "like 'https://sandbox.thredfi.com' or choose THREDFI['ENVIRONMENT']."
            )
        self.partner_uuid = str(partner_uuid)
        self._api_key = str(api_key)
        self.base_url = str(base_url).rstrip("/")
        self.timeout = tuple(timeout) if isinstance(timeout, (list, tuple)) else timeout
        self.deadline = float(deadline)
        self.max_response_bytes = int(max_response_bytes)
        self._read_timeouts = read_timeouts(timeout, self.deadline)
        # Our own session has nothing of its own to merge into a request but its headers and
        # cookies, so requests are prepared directly (see _send); a session you pass goes
        # through Session.request, with all its merging.
        self._own_session = session is None
        if session is None:
            session = settle_environment(requests.Session(), self.base_url)
        self.session = session
        self.session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})
        cache = cache if cache is not None else LocalCache()
        self.rate_limiter = RateLimiter(
            cache, rate_limit, namespace=f"{self.partner_uuid}@{self.base_url}"
        )
        self.tokens = TokenStore(
            cache,
            partner_uuid=self.partner_uuid,
            api_key=self._api_key,
            base_url=self.base_url,
            margin=token_refresh_margin,
            jitter=token_refresh_jitter,
            memo_limit=token_memo_limit,
            secret=cache_secret,
        )

    def close(self) -> None:
        """Close the HTTP session's pooled connections."""
        self.session.close()

    def __repr__(self) -> str:
        return f"<ThredfiClient partner={self.partner_uuid} base_url={self.base_url}>"

    # -- resources ---------------------------------------------------------------------------

    @cached_property
    def businesses(self) -> Businesses:
        """Create, list, get and update businesses (partner token)."""
        return Businesses(self, API_ROOT, None)

    def business(self, business_id: str) -> BusinessScope:
        """The resources of one business, called with that business's token."""
        path_segment(business_id, "business id")  # None or "" is a caller bug, say so now
        return BusinessScope(self, str(business_id))

    # -- tokens ------------------------------------------------------------------------------

    def partner_token(self) -> str:
        """A valid partner (unscoped) access token. Never hand it to a browser."""
        return self.tokens.get(PARTNER_SCOPE, self._fetch_partner_token).access_token

    def verify_credentials(self) -> None:
        """Ask for a new partner token, whatever the cache holds (and cache it): raises
        :class:`ThredfiAuthenticationError` if Thredfi rejects the partner UUID and API key."""
        self.tokens.renew(PARTNER_SCOPE, self._fetch_partner_token)

    def business_token(self, business_id: str) -> dict[str, Any]:
        """``{"access_token", "expires_in"}`` for one business, ``expires_in`` being what is left.

        This is the frontend-safe token the embedded widget's ``getToken()`` returns.
        """
        path_segment(business_id, "business id")
        token = self._token(str(business_id))
        remaining = int(token.expires_at - self.tokens.clock())
        return {"access_token": token.access_token, "expires_in": max(0, remaining)}

    def _token(self, scope: str) -> Token:
        if scope == PARTNER_SCOPE:
            return self.tokens.get(PARTNER_SCOPE, self._fetch_partner_token)
        return self.tokens.get(scope, lambda: self._fetch_business_token(scope))

    def _fetch_partner_token(self) -> tuple[str, Any]:
        telemetry.token_fetched("partner")
        path = API_ROOT + "oauth2/token/"
        # The schema (OAuth2TokenRequestRequest) marks client_id required while the guides send
        # only grant_type; sending both satisfies either reading.
        response = self._send(
            "POST",
            path,
            auth=HTTPBasicAuth(self.partner_uuid, self._api_key),
            data={"grant_type": "client_credentials", "client_id": self.partner_uuid},
        )
        if response.status_code == 401:
            raise ThredfiAuthenticationError(
                "Thredfi rejected the partner credentials; check THREDFI['PARTNER_UUID'] and "
                "THREDFI['API_KEY'] (and that they belong to this environment, "
                f"{self.base_url})",
                status_code=401,
                response=detached(response, [self._api_key]),
                method="POST",
                path=path,
            )
        return self._token_from(response, "POST", path)

    def _fetch_business_token(self, business_id: str) -> tuple[str, Any]:
        telemetry.token_fetched("business")
        path = f"{API_ROOT}{path_segment(business_id, 'business id')}/oauth2/token/"
        for attempt in (1, 2):
            partner = self.tokens.get(PARTNER_SCOPE, self._fetch_partner_token)
            response = self._send("POST", path, token=partner.access_token)
            if response.status_code == 401 and attempt == 1:
                # The partner token was revoked or expired early: drop it and try once more.
                self.tokens.invalidate(PARTNER_SCOPE, partner.access_token)
                continue
            return self._token_from(response, "POST", path, token=partner.access_token)
        raise AssertionError("unreachable")  # pragma: no cover

    def _token_from(
        self, response: requests.Response, method: str, path: str, token: str | None = None
    ) -> tuple[str, float]:
        body = self._decode(response, method, path, token)
        if not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
            raise ThredfiMalformedResponseError(
                "the token response has no access_token",
                status_code=response.status_code,
                method=method,
                path=path,
            )
        expires_in: Any = body.get("expires_in")
        try:
            expires_in = float(expires_in)
        except (TypeError, ValueError):
            logger.warning("token response without a usable expires_in; assuming 3600 s")
            expires_in = 3600.0
        return str(body["access_token"]), expires_in

    # -- requests ----------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        business_id: str | None = None,
        params: dict[str, Any] | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        """Call ``path`` (from the host root, e.g. ``/v1/platform/businesses/``) and decode it.

        Uses the business token of ``business_id``, or the partner token when it is None.
        A ``json`` body holding an :class:`~.uploads.Upload` is sent as multipart/form-data
        instead (:mod:`.uploads`). Returns the decoded JSON (a :class:`Record` for objects,
        with ``.http_status``), None for an empty body; raises a
        :mod:`thredfi_django.exceptions` error for anything else.
        """
        scope = str(business_id) if business_id else PARTNER_SCOPE
        data = files = None
        if json is not None and carries_upload(json):
            data, files = form_fields(json)
            json = None
        for attempt in (1, 2):
            token = self._token(scope)
            self.rate_limiter.wait(business_id)
            response = self._send(
                method,
                path,
                token=token.access_token,
                params=params,
                json=json,
                data=data,
                files=files,
                headers=headers,
            )
            if response.status_code == 401 and attempt == 1:
                logger.debug("%s %s -> 401; refreshing the %s token once", method, path, scope)
                self.tokens.invalidate(scope, token.access_token)
                continue
            return self._decode(response, method, path, token.access_token)
        raise AssertionError("unreachable")  # pragma: no cover

    def _send(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        auth: Any = None,
        params: dict[str, Any] | None = None,
        json: Any = None,
        data: Any = None,
        files: Any = None,
        headers: dict[str, str] | None = None,
    ) -> requests.Response:
        all_headers = dict(headers or {})
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        started = time.monotonic()
        url = self.base_url + path
        secrets = [self._api_key, token]
        try:
            if self._own_session:
                # What Session.request does, less merging the settings of a session that has
                # none: about 0.1 ms less per call (requests' merge runs several slow
                # isinstance checks against typing Protocols). Session.send still runs the
                # adapter, hooks and cookie jar as usual.
                merged = CaseInsensitiveDict(self.session.headers)
                merged.update(all_headers)
                prepared = requests.PreparedRequest()
                prepared.prepare(
                    method=method,
                    url=url,
                    headers=merged,
                    params=params,
                    json=json,
                    data=data,
                    files=files,
                    auth=auth,
                    cookies=self.session.cookies if len(self.session.cookies) else None,
                )
                response = self.session.send(
                    prepared, timeout=self._read_timeouts, stream=True, allow_redirects=False
                )
            else:
                response = self.session.request(
                    method,
                    url,
                    params=params,
                    json=json,
                    data=data,
                    files=files,
                    headers=all_headers,
                    auth=auth,
                    timeout=self._read_timeouts,
                    stream=True,
                    allow_redirects=False,
                )
            self._read(response, started, method, path)
        except (requests.Timeout, urllib3.exceptions.ReadTimeoutError) as err:
            raise self._network_error(ThredfiTimeoutError, err, method, path, secrets) from err
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as err:
            # Connection refused or lost, also mid-answer (ChunkedEncodingError, ProtocolError).
            raise self._network_error(ThredfiConnectionError, err, method, path, secrets) from err
        logger.debug(
            "%s %s -> %s (%.0f ms)",
            method,
            path,
            response.status_code,
            (time.monotonic() - started) * 1000,
        )
        telemetry.request_finished(method, path, response.status_code, started)
        if response.is_redirect or 300 <= response.status_code < 400:
            location = redact(response.headers.get("Location", "nowhere"), secrets)[:200]
            raise ThredfiMalformedResponseError(
                f"answered with a redirect to {location}, which is not followed (credentials "
                f"go to {self.base_url} only); if Thredfi moved, change THREDFI['BASE_URL']",
                status_code=response.status_code,
                response=detached(response, secrets),
                method=method,
                path=path,
            )
        return response

    def _read(self, response: requests.Response, started: float, method: str, path: str) -> None:
        """Read the body; a failure that is the answer's own is raised with its status."""
        try:
            # An error's status says what happened; the start of its body is enough to quote.
            read_body(
                response,
                deadline_at=started + self.deadline,
                max_bytes=self.max_response_bytes,
                truncate=response.status_code >= 400,
            )
        except DeadlineExceeded:
            exc = ThredfiTimeoutError(
                f"{method} {path}: no complete answer within the {self.deadline:g} s deadline "
                "(THREDFI['REQUEST_DEADLINE'])"
            )
            exc.method, exc.path = method, path
            raise exc from None
        except BodyTooLarge:
            raise ThredfiMalformedResponseError(
                f"the answer is longer than {self.max_response_bytes} bytes "
                "(THREDFI['MAX_RESPONSE_BYTES']); not read further",
                status_code=response.status_code,
                method=method,
                path=path,
            ) from None
        except urllib3.exceptions.DecodeError:
            raise ThredfiMalformedResponseError(
                "the answer's Content-Encoding could not be decoded",
                status_code=response.status_code,
                method=method,
                path=path,
            ) from None

    def _network_error(
        self,
        cls: type[ThredfiNetworkError],
        err: Exception,
        method: str,
        path: str,
        secrets: list[str | None],
    ) -> ThredfiNetworkError:
        if isinstance(err, requests.RequestException):
            scrub_network_error(err, secrets)
        exc = cls(redact(f"{method} {path}: {network_failure(err, self.base_url)}", secrets))
        exc.method, exc.path = method, path
        logger.debug("%s %s -> %s", method, path, type(err).__name__)
        return exc

    def _decode(
        self, response: requests.Response, method: str, path: str, token: str | None
    ) -> Any:
        secrets = [self._api_key, token]
        if not response.ok:
            raise error_from_response(response, method, path, secrets=secrets)
        if response.status_code == 204:
            return None
        problem = "the body is empty" if not response.content else None
        if problem is None:
            try:
                body = response.json()
            except (ValueError, RecursionError):
                content_type = response.headers.get("Content-Type", "no content type")
                problem = f"the body is not valid JSON ({content_type}): {snippet(response)}"
        if problem is not None:
            # Raised outside the except block: the decoder's error holds the whole body.
            raise ThredfiMalformedResponseError(
                redact(problem, secrets),
                status_code=response.status_code,
                response=detached(response, secrets),
                method=method,
                path=path,
            )
        if isinstance(body, dict):
            return Record(body, http_status=response.status_code)
        return body
