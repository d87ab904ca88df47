"""Requests per second shared by every worker process (``THREDFI["RATE_LIMIT"]``).

Thredfi answers 429 above its rate limits, and workers that each kept their own pace would
overrun them together. So every request first takes the next free send slot from a counter in
the cache all processes share: slot *n* of a limit of *L* a second is the instant *n / L* (seconds
since the epoch), and the request waits for it. Slots are evenly spaced, so any one-second
interval holds at most *L* of them, however the server counts (fixed or sliding windows).

Taking a slot is one ``cache.incr``: atomic on Redis and Memcached, and on every Django cache
backend, where a Lua script would tie the client to one Redis library. A counter left behind
by an idle spell is moved up to the present by a second ``incr``; two processes doing so at
once only push slots later, never closer together. Leave the limit a little under the server's
own (network jitter moves arrivals by a few milliseconds).
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from typing import Any, Protocol

#: How long an idle counter is kept in the cache (it is made again when needed).
COUNTER_SECONDS = 3600


class CounterCache(Protocol):
    """The slice of Django's cache API the limiter needs."""

    def add(self, key: str, value: Any, timeout: float | None = ...) -> bool: ...
    def incr(self, key: str, delta: int = ...) -> int: ...


class RateLimiter:
    """Waits before each request so that all processes together keep to ``limits``:
    ``{"global": n, "per_business": n}`` requests per second (either None: no limit)."""

    def __init__(
        self,
        cache: CounterCache,
        limits: dict[str, int | None] | None,
        *,
        namespace: str,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ):
        limits = limits or {}
        self.global_limit = limits.get("global")
        self.business_limit = limits.get("per_business")
        self.cache, self.clock, self.sleep = cache, clock, sleep
        self.prefix = "thredfi:rate:" + hashlib.sha256(namespace.encode()).hexdigest()[:16]

    def wait(self, business_id: str | None) -> None:
        """Return when a request for ``business_id`` (None: partner scope) may be sent."""
        slots = []
        if self.global_limit:
            slots.append(self._take("all", self.global_limit))
        if business_id and self.business_limit:
            slots.append(self._take(f"business:{business_id}", self.business_limit))
        if slots:
            delay = max(slots) - self.clock()
            if delay > 0:
                self.sleep(delay)

    def _take(self, name: str, per_second: int) -> float:
        """The instant of the next free slot of ``name``'s counter, now taken."""
        key = f"{self.prefix}:{name}"
        earliest = math.ceil(self.clock() * per_second)
        self.cache.add(key, earliest - 1, timeout=COUNTER_SECONDS)
        try:
            slot = self.cache.incr(key)
        except ValueError:  # expired between add and incr
            self.cache.add(key, earliest, timeout=COUNTER_SECONDS)
            slot = earliest
        if slot < earliest:  # idle since: the counter lags behind the clock
            slot = self.cache.incr(key, earliest - slot)
        return slot / per_second
