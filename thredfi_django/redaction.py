"""Masking credentials in text we store or show (error messages, field errors, log lines).

One implementation for the client (server messages that echo a header back), the engine (what it
stores on a sync state) and the admin (what it displays). No Django import at module level, so
the HTTP client can use it; ``secrets=None`` means "the configured THREDFI API_KEY".
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

REDACTED = "[redacted]"

# Things that look like credentials. The engine should never store them in an error message, but
# an upstream proxy or a third-party error page could echo a header back; the admin scrubs anyway.
_SECRET_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # Authorization: Bearer <token> / Basic <base64>
    (
        re.compile(r"\b(Bearer|Basic|Token)\s+[A-Za-z0-9\-._~+/]+=*", re.IGNORECASE),
        r"\1 " + REDACTED,
    ),
    # JSON Web Tokens (three base64url parts, the first always starting "eyJ")
    (re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), REDACTED),
    # name=value / "name": "value" pairs whose name says secret
    (
        re.compile(
            r"""(?P<name>["']?\b[\w-]*(?:api[_-]?key|apikey|secret|password|passwd|token|"""
            r"""authorization|auth)\b["']?\s*[:=]\s*["']?(?:(?:Bearer|Basic|Token)\s+)?)(?P<value>[^\s"',;&}]+)""",
            re.IGNORECASE,
        ),
        r"\g<name>" + REDACTED,
    ),
    # Provider-style keys (sk_live_..., pk_test_...)
    (re.compile(r"\b(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{8,}"), REDACTED),
    # Long opaque strings mixing letters and digits (>= 40 chars): almost never human text.
    (
        re.compile(r"\b(?=[A-Za-z0-9_\-]*\d)(?=[A-Za-z0-9_\-]*[A-Za-z])[A-Za-z0-9_\-]{40,}\b"),
        REDACTED,
    ),
]


def _configured_secrets() -> list[str]:
    # Imported here: conf reads Django settings, and the fake server uses this module without
    # Django configured.
    from .conf import thredfi_settings

    return [thredfi_settings.API_KEY]


def redact(text: Any, secrets: Iterable[str | None] | None = None) -> str:
    """``text`` with every known secret and anything shaped like a token, JWT or API key masked.

    ``secrets``: exact strings to mask (API key, tokens); None means the configured API key.
    """
    if text is None:
        return ""
    result = str(text)
    for secret in _configured_secrets() if secrets is None else secrets:
        if secret and len(str(secret)) >= 4:  # the secret itself, whatever its shape
            result = result.replace(str(secret), REDACTED)
    for pattern, replacement in _SECRET_PATTERNS:
        result = pattern.sub(replacement, result)
    return result


def redact_data(value: Any, secrets: Iterable[str | None] | None = None) -> Any:
    """:func:`redact` applied to every string inside a JSON-like value (field errors)."""
    if isinstance(value, dict):
        return {str(key): redact_data(item, secrets) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_data(item, secrets) for item in value]
    if isinstance(value, str):
        return redact(value, secrets)
    return value
