"""Tokens of the fake: partner tokens (HTTP Basic) and business-scoped tokens (digest §2).

Tokens are opaque random strings that expire ``token_ttl`` seconds after issue by the fake's
injectable clock. :meth:`TokenBook.expire_all` makes every issued token answer 401 at once.
"""

from __future__ import annotations

import base64
import binascii
import secrets
from dataclasses import dataclass

from .errors import ApiError, error


@dataclass
class Token:
    """One issued token. ``business_id`` is None for a partner token."""

    value: str
    partner_uuid: str
    business_id: str | None
    expires_at: float

    @property
    def kind(self) -> str:
        return "partner" if self.business_id is None else "business"


class TokenBook:
    """Issues and checks tokens; knows nothing about HTTP beyond header parsing."""

    def __init__(self) -> None:
        self.tokens: dict[str, Token] = {}

    def clear(self) -> None:
        self.tokens.clear()

    def issue(self, partner_uuid: str, business_id: str | None, ttl: int, now: float) -> Token:
        prefix = "fkp" if business_id is None else "fkb"
        token = Token(f"{prefix}_{secrets.token_urlsafe(24)}", partner_uuid, business_id, now + ttl)
        self.tokens[token.value] = token
        return token

    def expire_all(self) -> None:
        for token in self.tokens.values():
            token.expires_at = float("-inf")

    def bearer(self, headers: dict[str, str], now: float) -> Token:
        """The valid token in ``Authorization: Bearer ...``, else a 401 ApiError."""
        header = headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if not header:
            raise error(
                401,
                "authentication_required",
                "Authentication credentials were not provided. Send 'Authorization: Bearer "
                "<token>'.",
            )
        if scheme.lower() != "bearer" or not value.strip():
            raise error(401, "authentication_required", "Use 'Authorization: Bearer <token>'.")
        token = self.tokens.get(value.strip())
        if token is None:
            raise error(401, "invalid_token", "The access token is invalid.")
        if token.expires_at <= now:
            raise error(401, "invalid_token", "The access token has expired.")
        return token


def basic_credentials(headers: dict[str, str]) -> tuple[str, str]:
    """``(username, password)`` from ``Authorization: Basic ...``, else a 401 ApiError."""
    header = headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value.strip():
        raise error(
            401,
            "authentication_required",
            "Send the partner UUID and API key as HTTP Basic credentials.",
        )
    try:
        user, sep, password = base64.b64decode(value.strip()).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise error(401, "authentication_required", "Malformed HTTP Basic credentials.") from None
    if not sep:
        raise error(401, "authentication_required", "Malformed HTTP Basic credentials.")
    return user, password


__all__ = ["ApiError", "Token", "TokenBook", "basic_credentials"]
