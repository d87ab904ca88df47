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

#: Longest text redact() looks at; the rest is cut off before any pattern runs (and said so).
MAX_LENGTH = 10_000
TRUNCATED = " …[truncated]"

# Every pattern starts only where a run of its characters starts (a negative lookbehind), and
# scans that run once: Python's backtracking engine stays linear in the length of the text.
_RUN = "A-Za-z0-9_\\-"
# Authorization: Bearer <token> / Basic <base64>
_SCHEME = re.compile(r"\b(Bearer|Basic|Token)[ \t]+[A-Za-z0-9\-._~+/]+=*", re.IGNORECASE)
# JSON Web Tokens (three base64url parts, the first always starting "eyJ")
_JWT = re.compile(rf"(?<![{_RUN}])eyJ[{_RUN}]{{5,}}\.[{_RUN}]+\.[{_RUN}]*")
# name=value / "name": "value" pairs; the name is judged in Python (see _SECRET_NAMES)
_PAIR = re.compile(
    r"""(?<![\w-])([\w-]+)(["']?[ \t]*[:=][ \t]*["']?(?:(?:Bearer|Basic|Token)[ \t]+)?)"""
    r"""([^\s"',;&}]+)""",
    re.IGNORECASE,
)
_SECRET_NAMES = (
    "api_key", "api-key", "apikey", "secret", "password", "passwd", "token", "authorization",
    "auth",
)  # fmt: skip
# Provider-style keys (sk_live_..., pk_test_...)
_PROVIDER_KEY = re.compile(r"(?<![A-Za-z0-9_])(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{8,}")
# Long opaque strings (>= 40 chars) mixing letters and digits: almost never human text.
_OPAQUE = re.compile(rf"(?<![{_RUN}])[{_RUN}]{{40,}}")
_DIGIT = re.compile(r"\d")
_LETTER = re.compile(r"[A-Za-z]")


def _pair(match: re.Match[str]) -> str:
    if match.group(1).lower().endswith(_SECRET_NAMES):
        return match.group(1) + match.group(2) + REDACTED
    return match.group(0)


def _opaque(match: re.Match[str]) -> str:
    text = match.group(0)
    return REDACTED if _DIGIT.search(text) and _LETTER.search(text) else text


def _configured_secrets() -> list[str]:
    # Imported here: conf reads Django settings, and the fake server uses this module without
    # Django configured.
    from .conf import thredfi_settings

    return [thredfi_settings.API_KEY]


def redact(text: Any, secrets: Iterable[str | None] | None = None) -> str:
    """``text`` with every known secret and anything shaped like a token, JWT or API key masked.

    ``secrets``: exact strings to mask (API key, tokens); None means the configured API key.
    Text longer than :data:`MAX_LENGTH` is cut there first, at the start of a word so no part of
    a token survives the cut.
    """
    if text is None:
        return ""
    result = str(text)
    for secret in _configured_secrets() if secrets is None else secrets:
        if secret and len(str(secret)) >= 4:  # the secret itself, whatever its shape
            result = result.replace(str(secret), REDACTED)
    if len(result) > MAX_LENGTH:
        result = result[:MAX_LENGTH].rstrip("".join(map(chr, range(33, 127)))) + TRUNCATED
    result = _SCHEME.sub(r"\1 " + REDACTED, result)
    result = _JWT.sub(REDACTED, result)
    result = _PAIR.sub(_pair, result)
    result = _PROVIDER_KEY.sub(REDACTED, result)
    return _OPAQUE.sub(_opaque, result)


def redact_data(value: Any, secrets: Iterable[str | None] | None = None) -> Any:
    """:func:`redact` applied to every string inside a JSON-like value (field errors)."""
    if isinstance(value, dict):
        return {str(key): redact_data(item, secrets) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_data(item, secrets) for item in value]
    if isinstance(value, str):
        return redact(value, secrets)
    return value
