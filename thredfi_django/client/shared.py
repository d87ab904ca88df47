"""``get_client()``: the process's client, built from ``settings.THREDFI``.

Memoised so every caller shares one ``requests.Session`` (keep-alive), rebuilt when the THREDFI
or CACHES setting changes (``override_settings`` in tests) and after a fork (a Celery prefork
child must not share its parent's sockets). Tokens live in Django's cache
(``THREDFI['TOKEN_CACHE']``), so all worker processes share them.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from django.conf import settings
from django.core.cache import InvalidCacheBackendError, caches
from django.core.signals import setting_changed

from ..conf import thredfi_settings
from ..exceptions import ThredfiConfigurationError
from .api import ThredfiClient

_lock = threading.Lock()
_client: ThredfiClient | None = None
_client_pid: int | None = None


class DjangoCache:
    """Looks up ``caches[alias]`` on each use: Django hands each thread its own cache object."""

    def __init__(self, alias: str):
        self.alias = alias

    @property
    def backend(self) -> Any:
        return caches[self.alias]

    def get(self, key: str, default: Any = None) -> Any:
        return self.backend.get(key, default)

    def set(self, key: str, value: Any, timeout: float | None = None) -> None:
        self.backend.set(key, value, timeout)

    def add(self, key: str, value: Any, timeout: float | None = None) -> bool:
        added: bool = self.backend.add(key, value, timeout)
        return added

    def delete(self, key: str) -> Any:
        return self.backend.delete(key)

    def incr(self, key: str, delta: int = 1) -> int:
        return int(self.backend.incr(key, delta))


def build_client() -> ThredfiClient:
    """A new client from the current settings (most code wants :func:`get_client`)."""
    s = thredfi_settings
    alias = s.TOKEN_CACHE
    try:
        caches[alias]
    except InvalidCacheBackendError:
        raise ThredfiConfigurationError(
            f"settings.THREDFI['TOKEN_CACHE'] is {alias!r}, which is not in settings.CACHES; "
            "name one of your caches (tokens are shared through it)."
        ) from None
    return ThredfiClient(
        s.require("PARTNER_UUID"),
        s.require("API_KEY"),
        s.base_url,
        timeout=s.TIMEOUT,
        deadline=s.REQUEST_DEADLINE,
        max_response_bytes=s.MAX_RESPONSE_BYTES,
        cache=DjangoCache(alias),
        token_refresh_margin=s.TOKEN_REFRESH_MARGIN,
        token_refresh_jitter=s.TOKEN_REFRESH_JITTER,
        token_memo_limit=s.TOKEN_MEMO_LIMIT,
        cache_secret=str(getattr(settings, "SECRET_KEY", "") or ""),
        rate_limit=s.RATE_LIMIT,
    )


def get_client() -> ThredfiClient:
    """The shared :class:`ThredfiClient` configured by ``settings.THREDFI``."""
    global _client, _client_pid
    with _lock:
        if _client is None or _client_pid != os.getpid():
            _client = build_client()
            _client_pid = os.getpid()
        return _client


def reset_client(**kwargs: Any) -> None:
    """Forget the shared client; the next :func:`get_client` builds a new one."""
    global _client
    with _lock:
        _client = None


def _on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting in ("THREDFI", "CACHES"):
        reset_client()


setting_changed.connect(_on_setting_changed, dispatch_uid="thredfi_django.client.reset")
