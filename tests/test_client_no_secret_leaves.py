"""No secret leaves the client: not in a message, not in a log line, and not anywhere inside an
exception it raises (its response, its request, their headers and bodies, its cause and context,
recursively), so logging or storing an exception (Sentry, a sync_failed receiver) is safe.
"""

from __future__ import annotations

import base64
import logging
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
import responses

from tests.fixtures.secret_walk import find_secrets
from thredfi_django.client import ThredfiClient
from thredfi_django.exceptions import ThredfiError

PARTNER = "0b7e4d3a-5f7c-4c1e-9a51-2f7d3c1b9e10"
API_KEY = "k3y-that-must-never-leak-0123456789"
PARTNER_TOKEN = "partner-token-that-must-never-leak"
BUSINESS_TOKEN = "business-token-that-must-never-leak"
BUSINESS = "4f1c2d7e-0000-4000-8000-000000000001"
BASIC = base64.b64encode(f"{PARTNER}:{API_KEY}".encode()).decode()
SECRETS = (API_KEY, PARTNER_TOKEN, BUSINESS_TOKEN, BASIC)


def leaks(root):
    return find_secrets(root, SECRETS)


def raised(call):
    with pytest.raises(ThredfiError) as caught:
        call()
    return caught.value


def token_server(rsps, *, partner_status=200):
    rsps.post(
        "https://thredfi.test/v1/platform/oauth2/token/",
        status=partner_status,
        json={"access_token": PARTNER_TOKEN, "expires_in": 3600}
        if partner_status == 200
        else {"error": f"invalid_client Basic {BASIC}", "client_secret": API_KEY},
    )
    rsps.post(
        f"https://thredfi.test/v1/platform/{BUSINESS}/oauth2/token/",
        json={"access_token": BUSINESS_TOKEN, "expires_in": 3600},
    )


def client(base="https://thredfi.test", **kwargs):
    return ThredfiClient(PARTNER, API_KEY, base, **kwargs)


CUSTOMERS = f"https://thredfi.test/v1/platform/businesses/{BUSINESS}/customers/"


def through_responses(setup, call):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        setup(rsps)
        return raised(lambda: call(client()))


SCENARIOS = {
    "401 from the token endpoint": lambda: through_responses(
        lambda r: token_server(r, partner_status=401), lambda c: c.partner_token()
    ),
    "401 on an API call, twice": lambda: through_responses(
        lambda r: (token_server(r), r.get(CUSTOMERS + "x/", status=401, body="no")),
        lambda c: c.business(BUSINESS).customers.get("x"),
    ),
    "400 that echoes the token": lambda: through_responses(
        lambda r: (
            token_server(r),
            r.post(
                CUSTOMERS,
                status=400,
                json={"error": f"bad token {BUSINESS_TOKEN}", "access_token": BUSINESS_TOKEN},
            ),  # fmt: skip
        ),
        lambda c: c.business(BUSINESS).customers.create({"external_id": "e"}),
    ),
    "HTML 200": lambda: through_responses(
        lambda r: (token_server(r), r.get(CUSTOMERS + "x/", body=f"<p>{BUSINESS_TOKEN}</p>")),
        lambda c: c.business(BUSINESS).customers.get("x"),
    ),
    "redirect": lambda: through_responses(
        lambda r: (
            token_server(r),
            r.get(
                CUSTOMERS + "x/",
                status=302,
                headers={
                    "Location": f"https://evil.test/?t={BUSINESS_TOKEN}",
                    "Set-Cookie": f"s={BUSINESS_TOKEN}",
                },
            ),  # fmt: skip
        ),
        lambda c: c.business(BUSINESS).customers.get("x"),
    ),
    "connection error carrying the request": lambda: through_responses(
        lambda r: (
            token_server(r),
            r.get(CUSTOMERS + "x/", body=requests.ConnectionError(f"boom {BUSINESS_TOKEN}")),
        ),
        lambda c: c.business(BUSINESS).customers.get("x"),
    ),
}


@pytest.mark.parametrize("scenario", SCENARIOS, ids=list(SCENARIOS))
def test_no_attribute_of_a_raised_exception_holds_a_secret(scenario, caplog):
    with caplog.at_level(logging.DEBUG, logger="thredfi_django"):
        exc = SCENARIOS[scenario]()
    assert leaks(exc) == []
    assert not [s for s in SECRETS if s in caplog.text]


def test_the_401_from_the_token_endpoint_keeps_a_readable_scrubbed_response():
    exc = SCENARIOS["401 from the token endpoint"]()
    assert exc.response.status_code == 401
    assert exc.response.request.headers["Authorization"] == "[redacted]"
    assert "[redacted]" in exc.response.json()["client_secret"]


class _Tokens(BaseHTTPRequestHandler):
    """Tokens for anyone; every other request hangs until the client gives up."""

    protocol_version = "HTTP/1.1"

    def do_POST(self):  # noqa: N802 - http.server's naming
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        token = PARTNER_TOKEN if self.path == "/v1/platform/oauth2/token/" else BUSINESS_TOKEN
        body = f'{{"access_token": "{token}", "expires_in": 3600}}'.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):  # noqa: N802
        time.sleep(1.5)

    def log_message(self, *args):
        pass


@pytest.fixture
def real_server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Tokens)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_real_socket_failures_hold_no_secret_either(real_server, caplog):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    closed = f"http://127.0.0.1:{port}"
    with caplog.at_level(logging.DEBUG, logger="thredfi_django"):
        slow = client(real_server, timeout=(1, 0.3))
        timed_out = raised(lambda: slow.business(BUSINESS).customers.get("x"))
        refused = raised(lambda: client(closed).partner_token())
    assert "timed out" in str(timed_out)
    # One line saying what failed and where, not urllib3's nested repr.
    assert (
        str(refused) == f"POST /v1/platform/oauth2/token/: connection refused by 127.0.0.1:{port}"
    )
    assert leaks(timed_out) == [] and leaks(refused) == []
    assert not [s for s in SECRETS if s in caplog.text]


def test_the_walk_finds_a_secret_where_one_is_left():
    """The checker itself can fail: a raw requests error still holds the Authorization."""
    request = requests.Request("GET", "https://x.test/", auth=(PARTNER, API_KEY)).prepare()
    assert leaks(requests.ConnectionError("x", request=request)) != []
