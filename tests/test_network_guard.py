"""No test reaches the network beyond 127.0.0.1, even one that forgets the fake."""

import pytest
import requests
from django.core.cache import caches

from tests.fixtures.loopback_only import NetworkBlocked
from thredfi_django.client import get_client
from thredfi_django.exceptions import ThredfiConnectionError


def test_a_request_to_the_real_thredfi_without_the_fake_is_refused_at_once():
    caches["default"].clear()  # no token left by another test: this must go to the network
    with pytest.raises(ThredfiConnectionError, match="only reach 127.0.0.1"):
        get_client().partner_token()


def test_any_other_host_is_refused_and_loopback_is_not():
    with pytest.raises(requests.ConnectionError):
        requests.get("https://example.com/", timeout=2)
    with pytest.raises(NetworkBlocked):
        import socket

        socket.create_connection(("192.0.2.1", 80), timeout=1)  # TEST-NET-1, never routed
    with pytest.raises(requests.ConnectionError) as refused:
        requests.get("http://127.0.0.1:9/", timeout=2)  # discard port: nothing listens
    assert "only reach 127.0.0.1" not in str(refused.value)
