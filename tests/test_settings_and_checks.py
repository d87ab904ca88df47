"""Settings are read lazily from one dict, and the system checks say what to fix."""

from io import StringIO

import pytest
from django.core import checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError
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


def test_unknown_key_is_rejected_at_runtime_with_the_valid_keys():
    with override_settings(THREDFI={**GOOD, "APIKEY": "typo"}):
        with pytest.raises(ThredfiConfigurationError, match="APIKEY.*API_KEY.*Valid keys"):
            thredfi_settings.API_KEY  # noqa: B018


def test_a_misspelt_key_is_a_check_error_not_a_crash():
    with override_settings(THREDFI={**GOOD, "MAX_ATTEMPT": 3}):
        (message,) = check_settings()
        with pytest.raises(SystemCheckError) as reported:
            call_command("check", stdout=StringIO(), stderr=StringIO())
    assert message.id == "thredfi_django.E008"
    assert "Did you mean 'MAX_ATTEMPTS'?" in message.msg
    assert "thredfi_django.E008" in str(reported.value)


def test_the_old_cache_alias_key_says_it_was_renamed():
    with override_settings(THREDFI={**GOOD, "CACHE_ALIAS": "default"}):
        (message,) = check_settings()
    assert "renamed 'TOKEN_CACHE'" in message.msg


@pytest.mark.parametrize(
    "key, value, complaint",
    [
        ("MAX_ATTEMPTS", -1, "at least 1"),
        ("MAX_ATTEMPTS", 2.5, "whole number"),
        ("MAX_ATTEMPTS", True, "whole number"),
        ("TIMEOUT", "5", "seconds or a (connect, read) pair"),
        ("TIMEOUT", (5, 0), "at least"),
        ("TIMEOUT", (1, 2, 3), "seconds or a (connect, read) pair"),
        ("REQUEST_DEADLINE", float("nan"), "number of seconds"),
        ("MAX_RESPONSE_BYTES", 10, "at least 1024"),
        ("SYNC_ENABLED", "yes", "True or False"),
        ("PAUSED_MODELS", "app.Model", "list of strings"),
        ("DISPATCH", "fast", "one of 'drain', 'per_object'"),
        ("API_KEY", 12345, "a string"),
        ("TOKEN_CACHE", None, "a string"),
        ("RATE_LIMIT", 20, '{"global": 50, "per_business": 19}'),
        ("RATE_LIMIT", {"per_business": 0.5}, "requests per second"),
        ("RATE_LIMIT", {"per_tenant": 20}, "requests per second"),
        ("EXACT_COUNT_LIMIT", -1, "at least 0"),
        ("TOKEN_MEMO_LIMIT", 0, "at least 1"),
    ],
)
def test_wrong_types_and_ranges_are_check_errors_naming_the_setting(key, value, complaint):
    with override_settings(THREDFI={**GOOD, key: value}):
        messages = check_settings()
        with pytest.raises(ThredfiConfigurationError, match=key):
            getattr(thredfi_settings, key)
    assert [m.id for m in messages] == ["thredfi_django.E009"], messages
    assert key in messages[0].msg and complaint in messages[0].msg
    assert "your project's settings" in messages[0].hint


def test_a_new_setting_is_checked_by_its_one_line_of_spec(monkeypatch):
    from thredfi_django import conf

    monkeypatch.setitem(conf.SETTINGS, "SWEEP_LIMIT", conf.Setting(1000, conf.Int(low=1)))
    with override_settings(THREDFI={**GOOD, "SWEEP_LIMIT": 0}):
        assert ids(check_settings()) == ["thredfi_django.E009"]


def test_a_thredfi_setting_that_is_not_a_dict_is_a_check_error():
    with override_settings(THREDFI=["PARTNER_UUID"]):
        assert ids(check_settings()) == ["thredfi_django.E000"]


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
    assert all(m.level == checks.ERROR and "your project's settings" in m.hint for m in messages)
    assert not any("demo" in m.hint for m in messages)


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
    with override_settings(THREDFI={**GOOD, "TOKEN_CACHE": "tokens"}):
        assert ids(check_token_cache()) == ["thredfi_django.E007"]
    dummy = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}
    with override_settings(CACHES=dummy):
        assert ids(check_token_cache()) == ["thredfi_django.W002"]


def test_a_rate_limit_counted_in_a_per_process_cache_is_a_warning():
    from thredfi_django.checks import check_token_cache

    limited = {**GOOD, "RATE_LIMIT": {"per_business": 19}}
    local = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    redis = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache"}}
    with override_settings(THREDFI=limited, CACHES=local):
        assert ids(check_token_cache()) == ["thredfi_django.W005"]
    with override_settings(THREDFI=limited, CACHES=redis):
        assert check_token_cache() == []
    with override_settings(THREDFI=GOOD, CACHES=local):
        assert check_token_cache() == []


def test_beat_schedule_naming_the_sweep_by_its_module_path_is_caught():
    """The README once said `thredfi_django.tasks.sweep_pending`; beat would run nothing."""
    from thredfi_django.checks import check_beat_schedule

    assert check_beat_schedule() == []
    wrong = {"sweep": {"task": "thredfi_django.tasks.sweep_pending", "schedule": 60.0}}
    with override_settings(CELERY_BEAT_SCHEDULE=wrong):
        messages = check_beat_schedule()
    assert ids(messages) == ["thredfi_django.W003", "thredfi_django.W004"]
    assert "'thredfi_django.sweep_pending'" in messages[0].hint


def test_a_beat_schedule_without_the_sweep_is_a_warning():
    from thredfi_django.checks import check_beat_schedule

    other = {"reports": {"task": "billing.send_reports", "schedule": 3600.0}}
    with override_settings(CELERY_BEAT_SCHEDULE=other):
        assert ids(check_beat_schedule()) == ["thredfi_django.W004"]
    with override_settings(CELERY_BEAT_SCHEDULE={}):
        assert ids(check_beat_schedule()) == ["thredfi_django.W004"]


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
        table = check_settings()
        messages = check_ledger_settings()
    assert ids(messages) == ["thredfi_django.E021", "thredfi_django.E022"]
    assert "'invoice': '4000'" in messages[0].hint
    assert {m.id for m in table} == {"thredfi_django.E009"}
    assert "LINE_SCHEMA" in " ".join(m.msg for m in table)
    assert "CHART_CACHE_SECONDS" in " ".join(m.msg for m in table)
