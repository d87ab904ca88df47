"""When to try a transiently failed push again: exponential backoff with jitter.

delay = BACKOFF_BASE * 2 ** (attempt - 1), capped at BACKOFF_MAX, then "equal jitter" (a random
point in the upper half) so a burst of failures does not come back as a burst. A server's
Retry-After always wins: it knows when it will take requests again.
"""

from __future__ import annotations

import random

from ..conf import thredfi_settings

#: Never wait longer than a day, whatever a Retry-After says.
RETRY_AFTER_CEILING = 86400.0


def next_delay(attempt: int, retry_after: float | None = None) -> float:
    """Seconds to wait before attempt number ``attempt + 1`` (``attempt`` counts from 1)."""
    if retry_after is not None and retry_after >= 0:
        return min(float(retry_after), RETRY_AFTER_CEILING)
    base = float(thredfi_settings.BACKOFF_BASE)
    cap = float(thredfi_settings.BACKOFF_MAX)
    delay = min(cap, base * 2 ** max(attempt - 1, 0))
    return random.uniform(delay / 2, delay)
