"""What the admin scrubs from error messages before showing them (the engine should never store
credentials, but an echoing proxy or error page might)."""

import pytest

from thredfi_django.admin.display import redact, redact_data

JWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJwYXJ0bmVyIn0.c2lnbmF0dXJl"


@pytest.mark.parametrize(
    ("message", "secret", "shown"),
    [
        ("Authorization: Bearer abc.def-ghi", "abc.def-ghi", "Authorization: Bearer [redacted]"),
        (f"token {JWT} expired", JWT, "token [redacted] expired"),
        (
            "Basic MGI3ZTRkM2E6dGVzdA== rejected",
            "MGI3ZTRkM2E6dGVzdA==",
            "Basic [redacted] rejected",
        ),
        ('{"api_key": "k-123456"}', "k-123456", '{"api_key": "[redacted]"}'),
        ("x-api-key: abc123 was refused", "abc123", "x-api-key: [redacted] was refused"),
        ("access_token=zzz&page=2", "zzz", "access_token=[redacted]&page=2"),
        ("key sk_live_4eC39HqLyjWDarjtT1zdp7dc", "sk_live_4eC39HqLyjWDarjtT1zdp7dc", None),
        (
            "opaque a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3",
            "a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3",
            None,
        ),
    ],
)
def test_credentials_are_redacted(message, secret, shown):
    result = redact(message)
    assert secret not in result
    assert "[redacted]" in result
    if shown is not None:
        assert result == shown


@pytest.mark.parametrize(
    "message",
    [
        "Validation errors in request data",
        "Invalid currency code. Must be one of: GBP, EUR, USD",
        "Customer 3f2c1e4a-0000-4000-8000-000000000001 not found",
        "duplicate_external_id: dj:tests:testapp.invoice:42",
    ],
)
def test_ordinary_messages_are_left_alone(message):
    assert redact(message) == message


def test_field_errors_are_redacted_inside():
    errors = {"notes": [f"contains {JWT}"], "currency": ["bad"]}
    assert redact_data(errors) == {"notes": ["contains [redacted]"], "currency": ["bad"]}


def test_the_configured_api_key_is_redacted_whatever_its_shape(settings):
    settings.THREDFI = {**settings.THREDFI, "API_KEY": "plain words key"}
    assert redact("sent plain words key to the server") == "sent [redacted] to the server"
