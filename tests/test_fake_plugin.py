"""The pytest plugin (``pytest_plugins = ["thredfi_django.testing.pytest_plugin"]``)."""

from __future__ import annotations

import subprocess
import sys

import requests
from django.core.cache import caches


def test_thredfi_fake_starts_with_an_empty_token_cache_and_knows_the_partner(request, settings):
    caches["default"].set("stale-token-from-another-test", "x")

    fake = request.getfixturevalue("thredfi_fake")
    token = requests.post(
        fake.base_url + "/v1/platform/oauth2/token/",
        auth=(settings.THREDFI["PARTNER_UUID"], settings.THREDFI["API_KEY"]),
    )

    assert caches["default"].get("stale-token-from-another-test") is None
    assert fake.base_url == settings.THREDFI["BASE_URL"].rstrip("/")
    assert token.status_code == 200


def test_thredfi_fake_follows_the_configured_base_url(request, settings):
    settings.THREDFI = {**settings.THREDFI, "BASE_URL": "https://staging-backend.thredfi.com/"}

    fake = request.getfixturevalue("thredfi_fake")

    assert fake.base_url == "https://staging-backend.thredfi.com"
    assert requests.get(fake.base_url + "/v1/platform/businesses/").status_code == 401


def test_the_command_line_server_refuses_a_non_loopback_host():
    result = subprocess.run(
        [sys.executable, "-m", "thredfi_django.testing.server", "--host", "0.0.0.0"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip

    assert result.returncode == 2
    assert "loopback" in result.stderr
