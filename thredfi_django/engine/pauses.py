"""Pauses: a failure that is not about one row stops the pushes it concerns, and lifts by itself.

When Thredfi rejects the partner credentials (a 401 after the client's refresh-and-replay),
every push would fail the same way: pushing on would only turn thousands of healthy rows into
"needs attention". So the engine pauses: rows stay pending, nothing more is claimed, and the
sweep probes for a token each run; the pause lifts as soon as one is issued. A 403 on one
business's scope pauses that business alone, and a 429 pauses it for every worker until its
Retry-After has passed. Pauses live in the token cache (``TOKEN_CACHE``),
which every worker shares, and :data:`~thredfi_django.signals.sync_paused` fires when one starts.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from time import monotonic, sleep
from typing import Any

from django.core.cache import caches
from django.utils import timezone

from ..client import get_client
from ..conf import thredfi_settings
from ..exceptions import (
    ThredfiAuthenticationError,
    ThredfiError,
    ThredfiPermissionError,
    ThredfiRateLimitError,
)
from ..models import SyncState
from ..signals import sync_paused

logger = logging.getLogger("thredfi_django.sync")

#: The scope of a credentials pause; a business's is ``business:<its sync-state id>``.
CREDENTIALS = "credentials"
_INDEX = "thredfi_django:pauses"
_LOCK = _INDEX + ":lock"
#: How long a writer may hold the lock on the pauses; one that died frees it when this runs out.
#: Whole seconds: Redis and memcached round a timeout down to them.
LOCK_SECONDS = 5
_LOCK_POLL_SECONDS = 0.005


def _cache() -> Any:
    return caches[thredfi_settings.TOKEN_CACHE]


def business_scope(state_id: int) -> str:
    return f"business:{state_id}"


def scope_of(error: BaseException, state: SyncState) -> str | None:
    """The scope an error pauses, or None when it concerns this row alone."""
    if isinstance(error, ThredfiAuthenticationError):
        return CREDENTIALS
    if isinstance(error, (ThredfiPermissionError, ThredfiRateLimitError)):
        business = state.pk if state.resource == "business" else state.business_id
        return business_scope(business) if business else None
    return None


def seconds_of(error: BaseException) -> float | None:
    """How long a pause for ``error`` lasts by itself (a 429's Retry-After); None: until the
    sweep's probe lifts it."""
    if isinstance(error, ThredfiRateLimitError):
        return max(1.0, float(error.retry_after or 1.0))
    return None


@contextmanager
def _writing() -> Iterator[None]:
    """Hold the lock on the pauses while reading and writing them back.

    Every pause is in one cache entry, so two workers pausing two businesses at once would each
    write back the dict they read and one pause would be lost. ``add`` is atomic on Redis,
    Memcached and the local-memory cache, so it serves as the lock (the file and database caches
    only make a race unlikely); readers take none. A holder that overruns LOCK_SECONDS may lose
    its lock to the next writer: writes take milliseconds.
    """
    cache = _cache()
    owner = uuid.uuid4().hex
    deadline = monotonic() + LOCK_SECONDS + 1
    while not cache.add(_LOCK, owner, timeout=LOCK_SECONDS):
        if monotonic() > deadline:
            logger.warning(
                "Thredfi pauses: lock still taken after %s s, writing without it.", LOCK_SECONDS
            )
            break
        sleep(_LOCK_POLL_SECONDS)
    try:
        yield
    finally:
        if cache.get(_LOCK) == owner:
            cache.delete(_LOCK)


def pause(scope: str, reason: str, seconds: float | None = None) -> None:
    """Pause ``scope`` (see the module docstring), for ``seconds`` or until a probe lifts it;
    a pause already on keeps its start."""
    if scope in all_pauses():
        return  # the usual case in a burst of 429s: no lock to queue for
    with _writing():
        current = all_pauses()
        if scope in current:
            return
        now = timezone.now()
        current[scope] = {"reason": reason[:500], "since": now.isoformat()}
        if seconds is not None:
            current[scope]["until"] = (now + dt.timedelta(seconds=seconds)).isoformat()
        _cache().set(_INDEX, current, timeout=None)
    logger.error("Thredfi sync paused (%s): %s", scope, reason)
    sync_paused.send(sender=None, scope=scope, reason=reason)


def all_pauses() -> dict[str, dict[str, str]]:
    """{scope: {"reason", "since"[, "until"]}} of the pauses on now."""
    now = timezone.now().isoformat()
    current = _cache().get(_INDEX) or {}
    return {scope: p for scope, p in current.items() if p.get("until", now) >= now}


def paused_business_ids() -> list[int]:
    """Sync-state ids of the businesses paused on their own."""
    return business_ids(all_pauses())


def business_ids(paused: dict[str, dict[str, str]]) -> list[int]:
    """Sync-state ids of the businesses among ``paused`` (what :func:`all_pauses` returned)."""
    prefix = business_scope(0)[:-1]
    return [int(scope[len(prefix) :]) for scope in paused if scope.startswith(prefix)]


def resume(scope: str) -> None:
    with _writing():
        current = all_pauses()
        if current.pop(scope, None) is None:
            return
        _cache().set(_INDEX, current, timeout=None)
    logger.warning("Thredfi sync resumed (%s).", scope)


def probe() -> list[str]:
    """Try each pause's way back (a fresh partner token; a business token); lift those that
    work. Returns the scopes resumed."""
    resumed = []
    for scope in all_pauses():
        try:
            if scope == CREDENTIALS:
                get_client().verify_credentials()
            else:
                business = SyncState.objects.filter(pk=int(scope.split(":", 1)[1])).first()
                if business is not None and business.remote_id:
                    get_client().business_token(str(business.remote_id))
        except ThredfiError as err:
            logger.info("Thredfi sync still paused (%s): %s", scope, err)
            continue
        resume(scope)
        resumed.append(scope)
    return resumed
