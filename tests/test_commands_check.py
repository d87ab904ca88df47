"""`manage.py thredfi_check`: credentials and reachability, with what is wrong in plain words."""

from io import StringIO

import requests
from django.core.management import CommandError, call_command
from django.test import override_settings

from thredfi_django.client import get_client
from thredfi_django.conf import thredfi_settings


def check():
    out = StringIO()
    try:
        call_command("thredfi_check", stdout=out)
    except CommandError as err:
        return out.getvalue(), err
    return out.getvalue(), None


def with_settings(**changes):
    merged = {**thredfi_settings.user_settings, **changes}
    return override_settings(THREDFI={k: v for k, v in merged.items() if v is not None})


def test_all_good_gets_a_token_lists_businesses_and_exits_0(thredfi_fake):
    thredfi_fake.add_business(thredfi_settings.PARTNER_UUID)
    thredfi_fake.add_business(thredfi_settings.PARTNER_UUID)
    output, error = check()
    assert error is None
    assert "partner token obtained" in output
    assert "listed businesses: 2 visible" in output
    assert "All good." in output
    assert thredfi_fake.stats.tokens_issued["partner"] == 1


def test_missing_credentials_name_the_setting_and_send_nothing(thredfi_fake):
    with with_settings(API_KEY=None):
        output, error = check()
    assert error is not None and error.returncode == 1
    assert "THREDFI['API_KEY'] is not set" in output
    assert "your project's settings" in output
    assert thredfi_fake.stats.total_requests == 0


def test_rejected_credentials_point_at_partner_uuid_and_api_key(thredfi_fake):
    with with_settings(API_KEY="wrong-key"):
        output, error = check()
    assert error is not None
    assert "rejected the credentials (HTTP 401)" in output
    assert "THREDFI['PARTNER_UUID'] and THREDFI['API_KEY']" in output
    assert "wrong-key" not in output  # never print a secret


def test_connection_refused_says_which_url_was_tried():
    url = "http://127.0.0.1:9"  # nothing listens on the discard port
    with with_settings(BASE_URL=url):
        output, error = check()
    assert error is not None
    assert f"Could not connect to Thredfi at {url}" in output
    assert "plain HTTP" in output  # loopback http is allowed, but said so


def test_server_errors_fail_the_check(thredfi_fake):
    thredfi_fake.fail_next(status=500, path_contains="/businesses/")
    output, error = check()
    assert error is not None
    assert "server error" in output


def test_plain_http_to_a_real_host_is_refused_before_any_request(thredfi_fake):
    with with_settings(BASE_URL="http://sandbox.thredfi.com"):
        output, error = check()
    assert error is not None
    assert "plain HTTP would send the API key and tokens in clear text" in output
    assert thredfi_fake.stats.total_requests == 0


def test_timeouts_say_which_url_and_setting(thredfi_fake, monkeypatch):
    def slow(*args, **kwargs):
        raise requests.Timeout("read timed out")

    monkeypatch.setattr(get_client().session, "send", slow)
    output, error = check()
    assert error is not None
    assert f"did not answer in time at {thredfi_settings.base_url}" in output
    assert "THREDFI['TIMEOUT']" in output


def test_a_revoked_key_is_reported_rejected_even_with_a_token_still_cached(thredfi_fake):
    get_client().partner_token()  # a valid token now sits in the cache
    thredfi_fake.add_partner(thredfi_settings.PARTNER_UUID, "the-rotated-key")  # key revoked
    output, error = check()
    assert error is not None
    assert "rejected the credentials" in output
    assert "credentials accepted" not in output


def test_a_beat_entry_for_a_task_that_does_not_exist_is_reported(thredfi_fake):
    wrong = {"sweep": {"task": "thredfi_django.tasks.sweep_pending", "schedule": 60.0}}
    with override_settings(CELERY_BEAT_SCHEDULE=wrong):
        output, error = check()
    assert error is None  # a warning, not a failure: the connection is fine
    assert "'thredfi_django.tasks.sweep_pending', which is not a Celery task" in output
    assert "thredfi_django.sweep_pending" in output
