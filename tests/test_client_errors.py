"""What a caller sees when Thredfi (or the network) says no.

Bodies are the three error shapes the docs show (digest §5) plus what a proxy sends; they are
served with plain ``responses`` because they are about exact bytes on the wire.
"""

import email.utils
import logging
import time

import pytest
import requests
import responses

from thredfi_django.client import ThredfiClient
from thredfi_django.client.errors import parse_retry_after
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
    ThredfiValidationError,
)

BASE = "https://thredfi.test"
PARTNER = "0b7e4d3a-5f7c-4c1e-9a51-2f7d3c1b9e10"
API_KEY = "sk_live_super_secret_api_key"
PARTNER_TOKEN = "eyJpartner.token.secret"
BUSINESS_TOKEN = "eyJbusiness.token.secret"
BUSINESS = "b7c1"
CUSTOMERS = f"{BASE}/v1/platform/businesses/{BUSINESS}/customers/"


@pytest.fixture
def api():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.post(
            f"{BASE}/v1/platform/oauth2/token/",
            json={"access_token": PARTNER_TOKEN, "token_type": "Bearer", "expires_in": 3600},
        )
        rsps.post(
            f"{BASE}/v1/platform/{BUSINESS}/oauth2/token/",
            json={"access_token": BUSINESS_TOKEN, "expires_in": 3600, "scope": "business_access"},
        )
        yield rsps


@pytest.fixture
def customers():
    return ThredfiClient(PARTNER, API_KEY, BASE).business(BUSINESS).customers


def assert_no_secrets(exc):
    text = f"{exc} {exc!r} {exc.args}"
    for secret in (API_KEY, PARTNER_TOKEN, BUSINESS_TOKEN):
        assert secret not in text


def test_the_error_guides_shape_gives_code_message_and_field_errors(api, customers):
    api.post(
        CUSTOMERS,
        status=400,
        json={
            "error": "Validation errors in request data",
            "error_code": "validation_error",
            "details": {"currency": ["Invalid currency code. Must be one of: GBP, EUR, USD"]},
        },
    )
    with pytest.raises(ThredfiValidationError) as caught:
        customers.create({"external_id": "c-1", "currency": "XXX"})
    exc = caught.value
    assert exc.status_code == 400 and not exc.transient
    assert exc.error_code == "validation_error"
    assert exc.message == "Validation errors in request data"
    assert exc.field_errors == {
        "currency": ["Invalid currency code. Must be one of: GBP, EUR, USD"]
    }
    assert str(exc) == (
        f"POST /v1/platform/businesses/{BUSINESS}/customers/ -> HTTP 400 [validation_error]: "
        "Validation errors in request data (currency: Invalid currency code. Must be one of: "
        "GBP, EUR, USD)"
    )


def test_the_reference_error_response_shape_keeps_the_request_id(api, customers):
    api.get(
        CUSTOMERS + "c-404/",
        status=404,
        json={
            "error_code": "customer_not_found",
            "message": "Customer not found",
            "detail": {},
            "request_id": "req_123",
        },
    )
    with pytest.raises(ThredfiNotFoundError) as caught:
        customers.get("c-404")
    assert caught.value.error_code == "customer_not_found"
    assert caught.value.message == "Customer not found"
    assert caught.value.request_id == "req_123"
    assert "request_id req_123" in str(caught.value)


def test_the_entity_type_guides_string_detail_becomes_the_message(api):
    api.post(
        f"{BASE}/v1/platform/businesses/",
        status=400,
        json={"error_code": "validation_error", "detail": "Invalid entity_type 'gmbh' for GB."},
    )
    client = ThredfiClient(PARTNER, API_KEY, BASE)
    with pytest.raises(ThredfiValidationError, match="Invalid entity_type 'gmbh' for GB."):
        client.businesses.create({"external_id": "b", "entity_type": "gmbh", "country": "GB"})


def test_plain_serializer_errors_nested_in_line_items_name_the_field(api, customers):
    api.post(CUSTOMERS, status=400, json={"line_items": [{}, {"unit_price": ["Must be an int."]}]})
    with pytest.raises(ThredfiValidationError) as caught:
        customers.create({})
    assert caught.value.field_errors == {"line_items.1.unit_price": ["Must be an int."]}


def test_an_html_502_from_a_proxy_is_a_transient_server_error_with_a_readable_message(
    api, customers
):
    page = "<html><head><title>502 Bad Gateway</title></head><body><h1>Bad</h1></body></html>"
    api.get(CUSTOMERS, status=502, body=page, content_type="text/html")
    with pytest.raises(ThredfiServerError) as caught:
        list(customers.list())
    assert caught.value.transient
    assert caught.value.status_code == 502
    assert "non-JSON error body (text/html): 502 Bad Gateway" in str(caught.value)


def test_a_2xx_that_is_not_json_is_not_mistaken_for_data(api, customers):
    api.get(CUSTOMERS + "c-1/", status=200, body="<html>maintenance</html>")
    with pytest.raises(ThredfiMalformedResponseError, match="not valid JSON") as caught:
        customers.get("c-1")
    assert caught.value.transient


@pytest.mark.parametrize(
    "status, cls, transient",
    [
        (403, ThredfiPermissionError, False),
        (409, ThredfiConflictError, False),
        (422, ThredfiAPIError, False),
        (500, ThredfiServerError, True),
        (503, ThredfiServerError, True),
    ],
)
def test_each_status_has_its_exception_class(api, customers, status, cls, transient):
    api.post(CUSTOMERS, status=status, json={"error_code": "x", "message": "no"})
    with pytest.raises(cls) as caught:
        customers.create({"external_id": "c-1"})
    assert type(caught.value) is cls
    assert caught.value.transient is transient


def test_a_409_on_create_is_left_to_the_caller_to_look_up(api, customers):
    api.post(
        CUSTOMERS,
        status=409,
        json={"error_code": "duplicate_external_id", "message": "exists"},
    )
    with pytest.raises(ThredfiConflictError) as caught:
        customers.create({"external_id": "c-1"})
    assert caught.value.error_code == "duplicate_external_id"
    assert len([c for c in api.calls if c.request.url.startswith(CUSTOMERS)]) == 1


def test_429_says_how_long_to_wait_in_seconds(api, customers):
    api.get(CUSTOMERS, status=429, json={"message": "slow down"}, headers={"Retry-After": "7"})
    with pytest.raises(ThredfiRateLimitError) as caught:
        list(customers.list())
    assert caught.value.retry_after == 7.0
    assert caught.value.transient


def test_429_with_an_http_date_retry_after(api, customers):
    when = email.utils.formatdate(time.time() + 120, usegmt=True)
    api.get(CUSTOMERS, status=429, body="", headers={"Retry-After": when})
    with pytest.raises(ThredfiRateLimitError) as caught:
        list(customers.list())
    assert 110 <= caught.value.retry_after <= 120


def test_a_503_with_retry_after_carries_it_too(api, customers):
    api.get(CUSTOMERS, status=503, json={"message": "maintenance"}, headers={"Retry-After": "90"})
    with pytest.raises(ThredfiServerError) as caught:
        list(customers.list())
    assert caught.value.retry_after == 90.0


def test_retry_after_parsing():
    now = 1_700_000_000.0
    assert parse_retry_after("120", now=now) == 120.0
    assert parse_retry_after(" 1.5 ", now=now) == 1.5
    assert parse_retry_after("-3", now=now) == 0.0
    assert parse_retry_after(email.utils.formatdate(now + 30, usegmt=True), now=now) == 30.0
    assert parse_retry_after(email.utils.formatdate(now - 30, usegmt=True), now=now) == 0.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=now) == 0.0
    for junk in (None, "", "soon", "NaN"):
        assert parse_retry_after(junk, now=now) is None


def test_a_timeout_becomes_a_transient_timeout_error_with_its_cause(api, customers):
    api.get(CUSTOMERS, body=requests.ReadTimeout("read timed out"))
    with pytest.raises(ThredfiTimeoutError) as caught:
        list(customers.list())
    assert caught.value.transient
    assert isinstance(caught.value.__cause__, requests.ReadTimeout)
    assert "timed out" in str(caught.value)
    assert caught.value.path == f"/v1/platform/businesses/{BUSINESS}/customers/"


def test_a_connect_timeout_is_a_timeout_too(api):
    api.post(f"{BASE}/v1/platform/businesses/", body=requests.ConnectTimeout("connect timeout"))
    with pytest.raises(ThredfiTimeoutError):
        ThredfiClient(PARTNER, API_KEY, BASE).businesses.create({"external_id": "b"})


def test_a_refused_connection_becomes_a_connection_error(api, customers):
    api.post(CUSTOMERS, body=requests.ConnectionError("Connection refused"))
    with pytest.raises(ThredfiConnectionError) as caught:
        customers.create({"external_id": "c-1"})
    assert caught.value.transient
    assert isinstance(caught.value.__cause__, requests.ConnectionError)


def test_a_token_endpoint_that_is_down_is_a_connection_error_too():
    with responses.RequestsMock() as rsps:
        rsps.post(f"{BASE}/v1/platform/oauth2/token/", body=requests.ConnectionError("refused"))
        with pytest.raises(ThredfiConnectionError):
            ThredfiClient(PARTNER, API_KEY, BASE).partner_token()


def test_wrong_credentials_say_which_settings_to_check_without_quoting_them():
    with responses.RequestsMock() as rsps:
        rsps.post(
            f"{BASE}/v1/platform/oauth2/token/",
            status=401,
            json={"error_code": "invalid_client", "message": f"bad key {API_KEY}"},
        )
        with pytest.raises(ThredfiAuthenticationError) as caught:
            ThredfiClient(PARTNER, API_KEY, BASE).business(BUSINESS).customers.get("c-1")
    message = str(caught.value)
    assert "PARTNER_UUID" in message and "API_KEY" in message
    assert_no_secrets(caught.value)


def test_secrets_echoed_by_the_server_never_reach_a_message(api, customers):
    """A misbehaving server (or proxy) that quotes our credentials back gets redacted."""
    api.post(
        CUSTOMERS,
        status=400,
        json={
            "error": f"token {BUSINESS_TOKEN} / key {API_KEY}",
            "details": {"authorization": [f"Bearer {BUSINESS_TOKEN}"]},
        },
    )
    with pytest.raises(ThredfiValidationError) as caught:
        customers.create({"external_id": "c-1"})
    assert_no_secrets(caught.value)
    assert "[redacted]" in str(caught.value)


def test_network_error_messages_carry_no_secrets(api, customers):
    api.get(CUSTOMERS, body=requests.ConnectionError(f"boom Bearer {BUSINESS_TOKEN} {API_KEY}"))
    with pytest.raises(ThredfiConnectionError) as caught:
        list(customers.list())
    assert_no_secrets(caught.value)


def test_debug_log_names_method_path_and_status_but_no_credentials(api, customers, caplog):
    api.get(CUSTOMERS + "c-1/", json={"id": "4f1c2d7e-0000-4000-8000-000000000001"})
    with caplog.at_level(logging.DEBUG, logger="thredfi_django.client"):
        customers.get("c-1")
    lines = [r.getMessage() for r in caplog.records if r.name == "thredfi_django.client"]
    assert any(
        line.startswith(f"GET /v1/platform/businesses/{BUSINESS}/customers/c-1/ -> 200")
        for line in lines
    )
    assert any(line.startswith("POST /v1/platform/oauth2/token/ -> 200") for line in lines)
    for secret in (API_KEY, PARTNER_TOKEN, BUSINESS_TOKEN, "Authorization"):
        assert secret not in caplog.text
