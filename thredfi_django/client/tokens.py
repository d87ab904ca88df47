"""Access tokens shared by every process through a cache, refreshed by one process at a time.

The docs' reference code fetches a partner token and a business token for every call. Here a token
is fetched once per lifetime per (partner, business) and kept in a cache every worker can read
(Django's cache in production; :class:`LocalCache` when the client is built without one).

A token is fetched on first use and refreshed at a point drawn at random from a window before its
margin (``jitter``, a fraction of its lifetime), never before half its life: 10,000 business
tokens fetched in the same minute come due over several minutes, not in the same second. The
point is chosen by the process that fetched the token and stored with it, so every process
refreshes the token at the same moment and only one of them asks.

Refreshing is guarded by a short lock taken with ``cache.add`` (atomic on every Django backend):
the process that wins fetches; the others keep using the old token while it is still valid, or
poll briefly for the new one, and fetch themselves only if the lock holder went away empty-handed
(crashed, or its fetch failed) or takes longer than the lock's lifetime.

The cache is often shared (one Redis for several apps, a file cache on disk), so what is stored
is sealed (Fernet) with a key derived from the API key and the project's secret, under a name
derived from the credentials and the host: it is useless to anyone reading the cache, and a new
or wrong API key never finds the tokens fetched with another.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import math
import random
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from cryptography.fernet import Fernet, InvalidToken

logger = logging.getLogger("thredfi_django.client")

#: Scope name of the partner (unscoped) token; business tokens use the business id.
PARTNER_SCOPE = "partner"


class TokenCache(Protocol):
    """The slice of Django's cache API the token store and the rate limiter need."""

    def get(self, key: str, default: Any = None) -> Any: ...
    def set(self, key: str, value: Any, timeout: float | None = ...) -> None: ...
    def add(self, key: str, value: Any, timeout: float | None = ...) -> bool: ...
    def delete(self, key: str) -> Any: ...
    def incr(self, key: str, delta: int = ...) -> int: ...  # the rate limiter's counters


class LocalCache:
    """A thread-safe in-process cache, used when a client is built without ``cache=``.

    Tokens are then shared by the threads of one process only; :func:`get_client` passes
    Django's cache so that every worker process shares them.
    """

    def __init__(self) -> None:
        self._data: dict[str, tuple[Any, float | None]] = {}
        self._lock = threading.Lock()

    def _live(self, key: str) -> tuple[Any, float | None] | None:
        item = self._data.get(key)
        if item is not None and item[1] is not None and item[1] <= time.monotonic():
            del self._data[key]
            return None
        return item

    @staticmethod
    def _deadline(timeout: float | None) -> float | None:
        return None if timeout is None else time.monotonic() + timeout

    def get(self, key: str, default: Any = None) -> Any:
        with self._lock:
            item = self._live(key)
            return default if item is None else item[0]

    def set(self, key: str, value: Any, timeout: float | None = None) -> None:
        with self._lock:
            self._data[key] = (value, self._deadline(timeout))

    def add(self, key: str, value: Any, timeout: float | None = None) -> bool:
        with self._lock:
            if self._live(key) is not None:
                return False
            self._data[key] = (value, self._deadline(timeout))
            return True

    def delete(self, key: str) -> bool:
        with self._lock:
            return self._data.pop(key, None) is not None

    def incr(self, key: str, delta: int = 1) -> int:
        """Add ``delta`` to a stored number (ValueError when absent, as Django's caches do)."""
        with self._lock:
            item = self._live(key)
            if item is None:
                raise ValueError(f"Key {key!r} not found")
            self._data[key] = (item[0] + delta, item[1])
            return int(item[0] + delta)


@dataclass(frozen=True)
class Token:
    """A bearer token with its absolute expiry and the moment to start refreshing it (epoch s)."""

    access_token: str
    expires_at: float
    refresh_at: float

    def __repr__(self) -> str:  # never show the token itself
        return f"Token(expires_at={self.expires_at:.0f}, refresh_at={self.refresh_at:.0f})"


class Seal:
    """Encrypts tokens for the cache with a key derived from ``secret`` (API key + project
    secret); a value sealed under another key, tampered with or not sealed at all reads as None.
    """

    def __init__(self, secret: str):
        digest = hashlib.sha256(b"thredfi_django token seal\0" + secret.encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(digest))

    def seal(self, token: Token) -> str:
        data = [token.access_token, token.expires_at, token.refresh_at]
        return self._fernet.encrypt(json.dumps(data).encode()).decode("ascii")

    def open(self, value: Any) -> Token | None:
        if not isinstance(value, str):
            return None
        try:
            access_token, expires_at, refresh_at = json.loads(self._fernet.decrypt(value))
            return Token(str(access_token), float(expires_at), float(refresh_at))
        except (InvalidToken, ValueError, TypeError):
            return None  # another key or version wrote it: fetch a new one


class TokenStore:
    """Cached tokens per scope ("partner" or a business id) for one partner on one host."""

    #: Seconds the refresh lock lives; a crashed holder blocks others at most this long.
    lock_timeout = 10
    #: Seconds between polls while another process refreshes.
    poll_interval = 0.05
    #: A stale token with fewer seconds than this left is not worth sending.
    min_validity = 5

    def __init__(
        self,
        cache: TokenCache,
        *,
        partner_uuid: str,
        api_key: str,
        base_url: str,
        margin: float,
        jitter: float = 0.1,
        memo_limit: int = 10_000,
        secret: str = "",
    ):
        self.cache = cache
        self.margin = float(margin)
        self.jitter = float(jitter)
        # Tokens kept in memory (least recently used dropped first); a token not kept costs
        # one read of the shared cache, where every token expires with itself.
        self.memo_limit = int(memo_limit)
        # The name is a digest of everything a token depends on: another key, partner or host
        # (sandbox vs production) never meets this one's tokens. Short and memcached-safe.
        material = "\0".join([secret, partner_uuid, api_key, base_url])
        name = hashlib.sha256(b"thredfi_django token name\0" + material.encode()).hexdigest()
        self.prefix = f"thredfi_django:token:v2:{name[:32]}"
        self.seal = Seal("\0".join([secret, api_key]))
        # Injection points for tests (shared-cache expiry is wall-clock time across processes).
        self.clock: Callable[[], float] = time.time
        self.sleep: Callable[[float], None] = time.sleep
        self.random: Callable[[], float] = random.random
        # The last token seen per scope, in this process: a fresh one is used without asking
        # the shared cache (a network round trip per request otherwise). A 401 drops it.
        self._memo: OrderedDict[str, Token] = OrderedDict()
        self._memo_lock = threading.Lock()

    def key(self, scope: str) -> str:
        """The cache key of the token for ``scope`` ("partner" or a business id)."""
        return f"{self.prefix}:{scope}"

    def read(self, scope: str) -> Token | None:
        """The cached token for ``scope`` if it is still usable at all, else None."""
        token = self.seal.open(self.cache.get(self.key(scope)))
        if token is None or token.expires_at - self.min_validity <= self.clock():
            return None
        return token

    def _recall(self, scope: str) -> Token | None:
        with self._memo_lock:
            token = self._memo.get(scope)
            if token is not None:
                self._memo.move_to_end(scope)
            return token

    def _remember(self, scope: str, token: Token) -> None:
        with self._memo_lock:
            self._memo[scope] = token
            self._memo.move_to_end(scope)
            while len(self._memo) > self.memo_limit:
                self._memo.popitem(last=False)

    def _fresh(self, scope: str) -> Token | None:
        memo = self._recall(scope)
        if memo is not None and self.clock() < memo.refresh_at:
            return memo
        token = self.read(scope)
        if token is not None and self.clock() < token.refresh_at:
            self._remember(scope, token)
            return token
        return None

    def get(self, scope: str, fetch: Callable[[], tuple[str, Any]]) -> Token:
        """The token for ``scope``; ``fetch()`` → ``(access_token, expires_in)`` when one is due."""
        token = self._fresh(scope)
        if token is not None:
            return token
        stale = self.read(scope)
        lock_key = self.key(scope) + ":lock"
        owner = uuid.uuid4().hex
        if self.cache.add(lock_key, owner, self.lock_timeout):
            return self._fetch_locked(scope, fetch, lock_key, owner)
        if stale is not None:
            return stale  # someone is refreshing; the old token still works meanwhile
        waited = 0.0
        while waited < self.lock_timeout:
            self.sleep(self.poll_interval)
            waited += self.poll_interval
            token = self._fresh(scope)
            if token is not None:
                return token
            if self.cache.get(lock_key) is None:
                break  # the holder released the lock without storing a token: its fetch failed
        logger.debug("token refresh for %s: lock holder gone or slow, fetching here", scope)
        if self.cache.add(lock_key, owner, self.lock_timeout):
            return self._fetch_locked(scope, fetch, lock_key, owner)
        return self._fresh(scope) or self._store(scope, fetch)

    def _fetch_locked(
        self, scope: str, fetch: Callable[[], tuple[str, Any]], lock_key: str, owner: str
    ) -> Token:
        try:
            # Another process may have stored a token between our read and our lock.
            return self._fresh(scope) or self._store(scope, fetch)
        finally:
            if self.cache.get(lock_key) == owner:
                self.cache.delete(lock_key)

    def renew(self, scope: str, fetch: Callable[[], tuple[str, Any]]) -> Token:
        """Fetch a new token for ``scope`` now, whatever is cached, and cache it."""
        return self._store(scope, fetch)

    def _store(self, scope: str, fetch: Callable[[], tuple[str, Any]]) -> Token:
        access_token, expires_in = fetch()
        now = self.clock()
        lifetime = max(0.0, float(expires_in))
        token = Token(access_token, now + lifetime, now + self.refresh_age(lifetime))
        if lifetime > self.min_validity:
            self.cache.set(self.key(scope), self.seal.seal(token), math.ceil(lifetime))
            self._remember(scope, token)
        return token

    def refresh_age(self, lifetime: float) -> float:
        """Seconds after its fetch at which a token living ``lifetime`` seconds is refreshed.

        At least ``margin`` seconds early, up to ``jitter * lifetime`` earlier still, at random,
        but never before half-way: a server handing out tokens shorter than the margin must not
        make every call fetch one.
        """
        latest = lifetime - min(self.margin, lifetime / 2)
        earliest = max(lifetime / 2, latest - self.jitter * lifetime)
        return latest - (latest - earliest) * self.random()

    def invalidate(self, scope: str, access_token: str) -> None:
        """Forget the cached token for ``scope`` if it is still ``access_token``.

        Compare first, so a process whose request failed with an old token does not throw away
        the new one another process has just fetched.
        """
        with self._memo_lock:
            memo = self._memo.get(scope)
            if memo is not None and memo.access_token == access_token:
                del self._memo[scope]
        current = self.seal.open(self.cache.get(self.key(scope)))
        if current is not None and current.access_token == access_token:
            self.cache.delete(self.key(scope))
