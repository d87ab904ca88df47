"""Settings are read lazily from one dict, and the system checks say what to fix."""

import pytest
from django.core import checks
from django.test import override_settings

from thredfi_django.checks import check_ledger_settings, check_settings
from thredfi_django.conf import thredfi_settings
from thredfi_django.exceptions import ThredfiConfigurationError

GOOD = {"PARTNER_UUID": "0b7e4d3a-5f7c-4c1e-9a51-2f7d3c1b9e10", "API_KEY": "k"}


def ids(messages):
    return sorted(m.id for m in messages)


def test_settings_follow_override_settings():
    with override_settings(THREDFI={**GOOD, "ENVIRONMENT": "staging"}):
        assert thredfi_settings.base_url == "https://staging-backend.thredfi.com"
    with override_settings(THREDFI={**GOOD, "BASE_URL": "http://127.0.0.1:8765/"}):
        assert thredfi_settings.base_url == "http://127.0.0.1:8765"
        assert thredfi_settings.TIMEOUT == (5.0, 30.0)


def test_unknown_key_is_rejected_with_the_valid_keys():
    with override_settings(THREDFI={**GOOD, "APIKEY": "typo"}):
        with pytest.raises(ThredfiConfigurationError, match="APIKEY.*Valid keys"):
            thredfi_settings.API_KEY  # noqa: B018


def test_require_names_the_missing_setting():
    with override_settings(THREDFI={}):
        with pytest.raises(ThredfiConfigurationError, match=r"THREDFI\['API_KEY'\]"):
            thredfi_settings.require("API_KEY")


def test_good_settings_pass_the_checks():
    with override_settings(THREDFI=GOOD):
        assert check_settings() == []


def test_missing_credentials_are_errors_with_hints():
    with override_settings(THREDFI={}):
        messages = check_settings()
    assert ids(messages) == ["thredfi_django.E001", "thredfi_django.E002"]
    assert all(m.level == checks.ERROR and "THREDFI_" in m.hint for m in messages)


def test_malformed_partner_uuid():
    with override_settings(THREDFI={**GOOD, "PARTNER_UUID": "not-a-uuid"}):
        assert ids(check_settings()) == ["thredfi_django.E003"]


@pytest.mark.parametrize(
    "url, expected",
    [
        ("https://sandbox.thredfi.com", []),
        ("http://127.0.0.1:9000", []),
        ("http://localhost:9000", []),
        ("http://sandbox.thredfi.com", ["thredfi_django.E005"]),
        ("ftp://example.com", ["thredfi_django.E004"]),
    ],
)
def test_base_url_must_be_https_unless_loopback(url, expected):
    with override_settings(THREDFI={**GOOD, "BASE_URL": url}):
        assert ids(check_settings()) == expected


def test_unknown_environment():
    with override_settings(THREDFI={**GOOD, "ENVIRONMENT": "prod"}):
        assert ids(check_settings()) == ["thredfi_django.E006"]


def test_token_cache_must_exist_and_not_be_a_dummy():
    from thredfi_django.checks import check_token_cache

    assert check_token_cache() == []
    with override_settings(THREDFI={**GOOD, "CACHE_ALIAS": "tokens"}):
        assert ids(check_token_cache()) == ["thredfi_django.E007"]
    dummy = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}
    with override_settings(CACHES=dummy):
        assert ids(check_token_cache()) == ["thredfi_django.W002"]


def test_ledger_settings_are_checked():
    with override_settings(THREDFI=GOOD):
        assert check_ledger_settings() == []
    bad = {
        "LINE_SCHEMA": "hybrid",
        "ACCOUNT_CODES": {"invoice": 4000},
        "LEDGER_ACCOUNTS": {"4000": {"name": "Sales", "account_type": "income"}},
        "CHART_CACHE_SECONDS": 0,
    }
    with override_settings(THREDFI={**GOOD, **bad}):
        messages = check_ledger_settings()
    assert ids(messages) == [f"thredfi_django.E02{n}" for n in range(4)]
    assert "'guide'" in messages[0].hint
