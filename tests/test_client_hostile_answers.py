"""Every answer a server can give ends in a record or a readable, typed error: never a hang, a
crash, a blown-up memory or a success the client did not check.

A tiny HTTP server on 127.0.0.1 answers the token endpoints properly and every other request with
the scenario under test, written byte by byte, so slow drips, endless bodies, gzip bombs and cut
connections are real.
"""

from __future__ import annotations

import json
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from thredfi_django.client import ThredfiClient
from thredfi_django.exceptions import (
    ThredfiAPIError,
    ThredfiAuthenticationError,
    ThredfiConflictError,
    ThredfiConnectionError,
    ThredfiMalformedResponseError,
    ThredfiNotFoundError,
    ThredfiPermissionError,
    ThredfiRateLimitError,
    ThredfiServerError,
    ThredfiTimeoutError,
)

PARTNER = "0b7e4d3a-5f7c-4c1e-9a51-2f7d3c1b9e10"
API_KEY = "hostile-answers-api-key"
BUSINESS = "4f1c2d7e-0000-4000-8000-000000000001"
RECORD_ID = "9a8b7c6d-0000-4000-8000-000000000042"
SENT = {"external_id": "dj:tests:customer:1", "name": "Ada"}
CAP = 1024 * 1024  # MAX_RESPONSE_BYTES for these clients


def send(handler, status, body=b"", content_type="application/json", headers=()):
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    for name, value in headers:
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def as_json(status, value, **kwargs):
    return lambda h: send(h, status, json.dumps(value).encode(), **kwargs)


def raw_bytes(status, body, content_type="application/json", **kwargs):
    return lambda h: send(h, status, body, content_type, **kwargs)


def endless(h):
    """A 100 MB answer, generated as it is sent (never allocated)."""
    h.send_response(200)
    h.send_header("Content-Type", "application/json")
    h.send_header("Content-Length", str(100 * 1024 * 1024))
    h.end_headers()
    chunk = b"[" + b"0," * 32767
    for _ in range(100 * 1024 * 1024 // len(chunk)):
        h.wfile.write(chunk)


def slow_drip(h):
    """Headers at once, then one byte of body every 50 ms: each read succeeds, the body never
    ends (Content-Length promises a megabyte)."""
    h.send_response(201)
    h.send_header("Content-Type", "application/json")
    h.send_header("Content-Length", str(CAP))
    h.end_headers()
    for _ in range(CAP):
        h.wfile.write(b" ")
        h.wfile.flush()
        time.sleep(0.05)


def gzip_bomb(h):
    """A few hundred KB of gzip that inflates to 1 GB, compressed as it is sent."""
    h.send_response(200)
    h.send_header("Content-Type", "application/json")
    h.send_header("Content-Encoding", "gzip")
    h.send_header("Connection", "close")
    h.end_headers()
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = b"0" * (1024 * 1024)
    for _ in range(1024):
        h.wfile.write(packer.compress(zeros))
    h.wfile.write(packer.flush())


def cut_short(h):
    """Content-Length promises more than is sent, then the connection closes."""
    h.send_response(201)
    h.send_header("Content-Type", "application/json")
    h.send_header("Content-Length", "500")
    h.end_headers()
    h.wfile.write(b'{"id": "' + RECORD_ID.encode())
    h.close_connection = True


def hang_up(h):
    h.close_connection = True  # no status line at all


def nested(depth):
    return b"[" * depth + b"]" * depth


def title_page(n):
    return b"<html>" + b"<title>" * n + b"</html>"


def unauthorized_odd(h):
    send(h, 401, b"\x00\xffnope", "application/octet-stream")


# (scenario id, answer, expected class, a phrase the message must contain)
CORPUS = [
    ("no-id", as_json(201, {"external_id": SENT["external_id"]}), ThredfiMalformedResponseError,
     "has no id"),
    ("null-id", as_json(201, {"id": None}), ThredfiMalformedResponseError, "has no id"),
    ("bad-id", as_json(201, {"id": "12; DROP TABLE"}), ThredfiMalformedResponseError,
     "is not a UUID"),
    ("object-id", as_json(201, {"id": {"$ne": 1}}), ThredfiMalformedResponseError,
     "is not a UUID"),
    ("list-body", as_json(201, [{"id": RECORD_ID}]), ThredfiMalformedResponseError,
     "got a JSON list"),
    ("null-body", as_json(200, None), ThredfiMalformedResponseError, "null"),
    ("string-body", as_json(200, "ok"), ThredfiMalformedResponseError, "got a JSON str"),
    ("no-content", raw_bytes(204, b""), ThredfiMalformedResponseError, "null or no body"),
    ("empty-200", raw_bytes(200, b""), ThredfiMalformedResponseError, "the body is empty"),
    ("html-200", raw_bytes(200, b"<html><title>Maintenance</title></html>", "text/html"),
     ThredfiMalformedResponseError, "Maintenance"),
    ("invalid-json", raw_bytes(201, b"{id: 1,"), ThredfiMalformedResponseError,
     "not valid JSON"),
    ("truncated-json", raw_bytes(201, b'{"id": "' + RECORD_ID.encode()),
     ThredfiMalformedResponseError, "not valid JSON"),
    ("deeply-nested-200", raw_bytes(200, nested(200_000)), ThredfiMalformedResponseError,
     "not valid JSON"),
    ("binary-200", raw_bytes(200, bytes(range(256)) * 64, "application/octet-stream"),
     ThredfiMalformedResponseError, "application/octet-stream"),
    ("title-flood-200", raw_bytes(200, title_page(16000), "text/html"),
     ThredfiMalformedResponseError, "not valid JSON"),
    ("100-MB-body", endless, ThredfiMalformedResponseError, "longer than 1048576 bytes"),
    ("gzip-bomb", gzip_bomb, ThredfiMalformedResponseError, "longer than 1048576 bytes"),
    ("bad-gzip", raw_bytes(200, b"not gzip at all", headers=[("Content-Encoding", "gzip")]),
     ThredfiMalformedResponseError, "Content-Encoding"),
    ("slow-drip", slow_drip, ThredfiTimeoutError, "deadline"),
    ("cut-connection", cut_short, ThredfiConnectionError, "127.0.0.1"),
    ("hang-up", hang_up, ThredfiConnectionError, "127.0.0.1"),
    ("redirect-off-host", raw_bytes(302, b"", headers=[("Location", "https://evil.test/steal")]),
     ThredfiMalformedResponseError, "redirect to https://evil.test/steal"),
    ("redirect-307", raw_bytes(307, b"", headers=[("Location", "/v1/elsewhere/")]),
     ThredfiMalformedResponseError, "not followed"),
    ("other-external-id", as_json(200, {"id": RECORD_ID, "external_id": "dj:tests:customer:2"}),
     ThredfiMalformedResponseError, "got back the record of 'dj:tests:customer:2'"),
    ("401-binary", unauthorized_odd, ThredfiAuthenticationError, "HTTP 401"),
    ("403-html", raw_bytes(403, b"<title>Forbidden by WAF</title>", "text/html"),
     ThredfiPermissionError, "Forbidden by WAF"),
    ("404-list", as_json(404, ["gone"]), ThredfiNotFoundError, "HTTP 404"),
    ("409-binary", raw_bytes(409, b"\x00\x01\x02\xff" * 1000, "application/octet-stream"),
     ThredfiConflictError, "HTTP 409"),
    ("422-huge-text", raw_bytes(422, b"x" * (3 * CAP), "text/plain"), ThredfiAPIError,
     "HTTP 422"),
    ("429-odd-retry-after", raw_bytes(429, b"slow down", "text/plain",
                                      headers=[("Retry-After", "tomorrow-ish")]),
     ThredfiRateLimitError, "slow down"),
    ("500-nested", raw_bytes(500, nested(200_000)), ThredfiServerError, "HTTP 500"),
    ("500-odd-charset", raw_bytes(500, b"\xe9chec", "text/plain; charset=klingon"),
     ThredfiServerError, "chec"),
]  # fmt: skip


class Server(ThreadingHTTPServer):
    daemon_threads = True
    answer = None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Server

    def do_POST(self):  # noqa: N802 - http.server's naming
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        if self.path.endswith("/oauth2/token/"):
            as_json(200, {"access_token": "tok-" + "x" * 20, "expires_in": 3600})(self)
            return
        try:
            self.server.answer(self)
        except OSError:
            self.close_connection = True  # the client stopped reading: as it should

    do_GET = do_PATCH = do_PUT = do_POST

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    httpd = Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def customers(server):
    base = f"http://127.0.0.1:{server.server_address[1]}"
    client = ThredfiClient(PARTNER, API_KEY, base, timeout=(2, 2), deadline=1.0,
                           max_response_bytes=CAP)  # fmt: skip
    yield client.business(BUSINESS).customers
    client.close()


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "answer, expected, phrase", [c[1:] for c in CORPUS], ids=[c[0] for c in CORPUS]
)
def test_a_hostile_answer_to_a_create_ends_in_a_readable_typed_error(
    server, customers, answer, expected, phrase
):
    server.answer = answer
    with pytest.raises(expected) as caught:
        customers.create(dict(SENT))
    message = str(caught.value)
    assert phrase in message
    assert "\n" not in message and len(message) < 700, message
    assert API_KEY not in message


def test_the_corpus_is_at_least_twenty_answers_long():
    assert len(CORPUS) >= 20


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.get(RECORD_ID),
        lambda c: c.archive(RECORD_ID),
    ],
    ids=["get", "archive"],
)
def test_gets_and_actions_check_the_record_too(server, customers, call):
    server.answer = as_json(200, {"id": "not-a-uuid"})
    with pytest.raises(ThredfiMalformedResponseError, match="not a UUID"):
        call(customers)


def test_a_lookup_by_external_id_that_finds_a_record_without_a_usable_id_is_an_error(
    server, customers
):
    server.answer = as_json(200, {"count": 1, "results": [{"external_id": SENT["external_id"]}]})
    with pytest.raises(ThredfiMalformedResponseError, match="has no id"):
        customers.find_by_external_id(SENT["external_id"])


def test_a_well_formed_answer_is_returned(server, customers):
    server.answer = as_json(201, {"id": RECORD_ID, **SENT})
    record = customers.create(dict(SENT))
    assert record["id"] == RECORD_ID and record.created


@pytest.mark.parametrize(
    "token_answer, phrase",
    [
        (raw_bytes(200, b"<title>Login</title>", "text/html"), "Login"),
        (as_json(200, {"access_token": 123}), "no access_token"),
        (as_json(200, ["tok"]), "no access_token"),
    ],
    ids=["html", "number-token", "list"],
)
def test_a_hostile_token_endpoint_is_a_typed_error(server, token_answer, phrase):
    base = f"http://127.0.0.1:{server.server_address[1]}"
    # Point the client at a path prefix whose token endpoint is the hostile scenario.
    client = ThredfiClient(PARTNER, API_KEY, base, deadline=1.0, max_response_bytes=CAP)
    server.answer = token_answer
    original = Handler.do_POST

    def hostile_tokens(handler):
        handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        server.answer(handler)

    Handler.do_POST = hostile_tokens
    try:
        with pytest.raises(ThredfiMalformedResponseError, match=phrase):
            client.partner_token()
    finally:
        Handler.do_POST = original
