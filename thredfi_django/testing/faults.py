"""Fault injection: random faults by rate (``set_faults``) and one-shot faults (``fail_next``).

Kinds, as counted in ``fake.stats["faults"]``:

- ``server_error``: 500/502/503 before the request is applied (502 with an HTML body, as a proxy
  would send; the others with a shape-2 JSON body);
- ``rate_limit``: 429 with ``Retry-After`` and ``error_code: "rate_limited"``, not applied;
- ``drop``: the request IS applied and stored, then the connection is dropped without answer;
- ``slow``: the answer is delayed by ``slow_seconds`` (combines with the others);
- ``status``: a one-shot fault with another status (e.g. 400) from ``fail_next``;
- ``rate_limit`` also answers every request to ``/businesses/<id>/…`` beyond
  ``business_requests_per_second`` to that business in the last second (a sliding window, the
  strictest way a server counts), as Thredfi's own per-business limit would.

Faults never touch ``/__fake__/`` control endpoints. They do apply to the token endpoints (a real
outage would too); pass ``paths=[...]`` (substrings of the path) to limit them.
"""

from __future__ import annotations

import json
import random
import re
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from typing import Any

_BUSINESS_PATH = re.compile(r"/businesses/([^/]+)/")


@dataclass
class Fault:
    """What to do to one request."""

    kind: str  # "server_error", "rate_limit", "drop", "status" or "" (slow only)
    status: int = 0
    retry_after: int | None = None
    delay: float = 0.0


@dataclass
class _OneShot:
    remaining: int
    status: int | str
    path_contains: str | None
    retry_after: int | None  # None: the configured retry_after for 429, no header otherwise


class Faults:
    """Decides, per request, whether and how to misbehave. Callers hold the fake's lock."""

    def __init__(self) -> None:
        self.one_shots: list[_OneShot] = []
        self.configure()

    def configure(
        self,
        server_error_rate: float = 0.0,
        rate_limit_rate: float = 0.0,
        retry_after: int = 1,
        drop_after_apply_rate: float = 0.0,
        slow_rate: float = 0.0,
        slow_seconds: float = 0.0,
        seed: int | None = None,
        paths: list[str] | str | None = None,
        business_requests_per_second: int | None = None,
    ) -> None:
        rates = {
            "server_error_rate": server_error_rate,
            "rate_limit_rate": rate_limit_rate,
            "drop_after_apply_rate": drop_after_apply_rate,
            "slow_rate": slow_rate,
        }
        for name, rate in rates.items():
            if not 0.0 <= float(rate) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {rate!r}")
        if float(server_error_rate) + float(rate_limit_rate) + float(drop_after_apply_rate) > 1:
            raise ValueError("server_error_rate + rate_limit_rate + drop_after_apply_rate > 1")
        self.server_error_rate = float(server_error_rate)
        self.rate_limit_rate = float(rate_limit_rate)
        self.retry_after = int(retry_after)
        self.drop_rate = float(drop_after_apply_rate)
        self.slow_rate = float(slow_rate)
        self.slow_seconds = float(slow_seconds)
        self.paths = [paths] if isinstance(paths, str) else list(paths or [])
        self.random = random.Random(seed)
        if business_requests_per_second is not None and int(business_requests_per_second) < 1:
            raise ValueError("business_requests_per_second must be at least 1 (or None: no limit)")
        self.business_limit = business_requests_per_second
        self.recent: defaultdict[str, deque[float]] = defaultdict(deque)

    def settings(self) -> dict[str, Any]:
        return {
            "server_error_rate": self.server_error_rate,
            "rate_limit_rate": self.rate_limit_rate,
            "retry_after": self.retry_after,
            "drop_after_apply_rate": self.drop_rate,
            "slow_rate": self.slow_rate,
            "slow_seconds": self.slow_seconds,
            "paths": self.paths,
            "business_requests_per_second": self.business_limit,
            "pending_one_shots": sum(s.remaining for s in self.one_shots),
        }

    def add_one_shot(
        self, count: int, status: int | str, path_contains: str | None, retry_after: int | None
    ) -> None:
        if status != "drop" and not (isinstance(status, int) and 400 <= status <= 599):
            raise ValueError(
                f"status must be an HTTP error status (400-599) or 'drop', not {status!r}"
            )
        if count < 1:
            raise ValueError("count must be at least 1")
        wait = None if retry_after is None else int(retry_after)
        self.one_shots.append(_OneShot(count, status, path_contains, wait))

    def pick(self, path: str) -> Fault | None:
        """The fault for a request to ``path`` (one-shots first), or None."""
        for shot in self.one_shots:
            if shot.path_contains is None or shot.path_contains in path:
                shot.remaining -= 1
                if shot.remaining <= 0:
                    self.one_shots.remove(shot)
                return self._one_shot_fault(shot)
        if self.over_business_limit(path):
            return Fault("rate_limit", 429, self.retry_after)
        if self.paths and not any(part in path for part in self.paths):
            return None
        fault = None
        roll = self.random.random() if self._any_rate() else 1.0
        if roll < self.server_error_rate:
            fault = Fault("server_error", self.random.choice((500, 502, 503)))
        elif roll < self.server_error_rate + self.rate_limit_rate:
            fault = Fault("rate_limit", 429, self.retry_after)
        elif roll < self.server_error_rate + self.rate_limit_rate + self.drop_rate:
            fault = Fault("drop")
        if self.slow_rate and self.random.random() < self.slow_rate:
            fault = fault or Fault("")
            fault.delay = self.slow_seconds
        return fault

    def over_business_limit(self, path: str) -> bool:
        """True when ``path``'s business had its fill of requests in the last second (a
        request refused is not counted)."""
        match = _BUSINESS_PATH.search(path)
        if not self.business_limit or match is None:
            return False
        now = time.monotonic()
        recent = self.recent[match.group(1)]
        while recent and recent[0] <= now - 1.0:
            recent.popleft()
        if len(recent) >= self.business_limit:
            return True
        recent.append(now)
        return False

    def _any_rate(self) -> bool:
        return bool(self.server_error_rate or self.rate_limit_rate or self.drop_rate)

    def _one_shot_fault(self, shot: _OneShot) -> Fault:
        if shot.status == "drop":
            return Fault("drop")
        status = int(shot.status)
        if status == 429:
            wait = self.retry_after if shot.retry_after is None else shot.retry_after
            return Fault("rate_limit", 429, wait)
        return Fault("server_error" if status >= 500 else "status", status, shot.retry_after)


def fault_body(fault: Fault, request_id: str) -> tuple[dict[str, str], bytes]:
    """Headers and body of an injected error answer."""
    if fault.status == 502:
        html = b"<html><head><title>502 Bad Gateway</title></head><body>Bad Gateway</body></html>"
        return {"Content-Type": "text/html"}, html
    if fault.kind == "rate_limit":
        code, message = "rate_limited", "Too many requests. Retry after the Retry-After delay."
    elif fault.kind == "server_error":
        code, message = "server_error", "Internal server error (injected by the fake)."
    else:
        code, message = "injected_fault", f"Error {fault.status} injected by the fake."
    body = {"error_code": code, "message": message, "detail": {}, "request_id": request_id}
    headers = {"Content-Type": "application/json"}
    if fault.retry_after is not None:
        headers["Retry-After"] = str(fault.retry_after)
    return headers, json.dumps(body).encode()
