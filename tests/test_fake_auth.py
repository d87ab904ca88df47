"""The fake's tokens and scopes: partner token via Basic, business tokens, 401/403/404."""

from __future__ import annotations

import pytest
import requests

from thredfi_django.testing import FakeThredfi
from thredfi_django.testing.session import FakeApiSession

BASE = "https://sandbox.thredfi.com"
PARTNER, KEY = "9f0c3e2a-1111-4d5e-8f00-000000000001", "key-one"
OTHER_PARTNER, OTHER_KEY = "9f0c3e2a-2222-4d5e-8f00-000000000002", "key-two"


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def fake(clock):
    fake = FakeThredfi(base_url=BASE, token_ttl=3600, clock=clock)
    fake.add_partner(PARTNER, KEY)
    fake.add_partner(OTHER_PARTNER, OTHER_KEY)
    with fake.mock():
        yield fake


@pytest.fixture
def api(fake):
    return FakeApiSession(BASE, PARTNER, KEY)


def token_url(path: str = "") -> str:
    return f"{BASE}/v1/platform/{path}oauth2/token/"


def test_partner_token_from_basic_credentials_form_or_json_or_no_body(fake):
    form = requests.post(
        token_url(), auth=(PARTNER, KEY), data={"grant_type": "client_credentials"}
    )
    as_json = requests.post(
        token_url(),
        auth=(PARTNER, KEY),
        json={"grant_type": "client_credentials", "client_id": PARTNER},
    )
    bare = requests.post(token_url(), auth=(PARTNER, KEY))

    for response in (form, as_json, bare):
        assert response.status_code == 200
        body = response.json()
        assert body["token_type"] == "Bearer"
        assert body["expires_in"] == 3600
        assert body["access_token"]
    assert len({r.json()["access_token"] for r in (form, as_json, bare)}) == 3
    assert fake.stats.tokens_issued == {"partner": 3, "business": 0}


def test_partner_token_refuses_wrong_key_missing_auth_and_mismatched_client_id(fake):
    wrong = requests.post(token_url(), auth=(PARTNER, "nope"))
    missing = requests.post(token_url(), data={"grant_type": "client_credentials"})
    other_client = requests.post(
        token_url(), auth=(PARTNER, KEY), json={"client_id": OTHER_PARTNER}
    )
    bad_grant = requests.post(token_url(), auth=(PARTNER, KEY), data={"grant_type": "password"})

    assert wrong.status_code == 401
    assert missing.status_code == 401
    assert missing.json()["error_code"] == "authentication_required"
    assert other_client.status_code == 400
    assert "client_id" in other_client.json()["details"]
    assert bad_grant.status_code == 400
    assert fake.stats.tokens_issued["partner"] == 0


def test_business_token_is_scoped_to_its_business(api):
    business = api.create_business()
    response = api.post(f"{business['id']}/oauth2/token/")

    assert response.status_code == 200
    body = response.json()
    assert body["scope"] == "business_access"
    assert body["business_id"] == business["id"]
    assert body["token_type"] == "Bearer"


def test_a_business_token_for_another_business_is_403(api):
    first = api.create_business(external_id="b-1")
    second = api.create_business(external_id="b-2")

    response = api.get(f"businesses/{second['id']}/customers/", token=api.token(first["id"]))

    assert response.status_code == 403
    assert response.json()["error_code"] == "permission_denied"
    assert response.json()["request_id"]


def test_business_endpoints_accept_the_owning_partners_token_too(api):
    # Guides say business token only; the API reference documents the partner token for many
    # /businesses/{id}/... endpoints. The fake accepts both.
    business = api.create_business()

    with_partner = api.get(f"businesses/{business['id']}/customers/")
    with_business = api.get(f"businesses/{business['id']}/customers/", business=business["id"])

    assert with_partner.status_code == with_business.status_code == 200


def test_another_partners_business_is_404_business_not_found(fake, api):
    theirs = FakeApiSession(BASE, OTHER_PARTNER, OTHER_KEY).create_business(external_id="theirs")

    listing = api.get(f"businesses/{theirs['id']}/customers/")
    minting = api.post(f"{theirs['id']}/oauth2/token/")

    assert listing.status_code == minting.status_code == 404
    assert listing.json()["error_code"] == "business_not_found"
    assert fake.stats.tokens_issued["business"] == 0


def test_business_management_needs_the_partner_token(api):
    business = api.create_business()
    business_token = api.token(business["id"])

    listing = api.get("businesses/", token=business_token)
    patch = api.request("PATCH", f"businesses/{business['id']}/", {"legal_name": "X"},
                        token=business_token)  # fmt: skip
    own = api.get(f"businesses/{business['id']}/", token=business_token)

    assert listing.status_code == patch.status_code == 403
    assert own.status_code == 200  # the widget reads its own business with a business token


def test_tokens_expire_by_the_injected_clock(clock, api):
    business = api.create_business()
    path = f"businesses/{business['id']}/customers/"
    assert api.get(path).status_code == 200

    clock.now += 3601
    expired = api.get(path)

    assert expired.status_code == 401
    assert expired.json()["error_code"] == "invalid_token"
    api.forget_tokens()
    assert api.get(path).status_code == 200


def test_expire_tokens_makes_every_issued_token_answer_401(fake, api):
    business = api.create_business()
    path = f"businesses/{business['id']}/customers/"
    partner_token, business_token = api.token(), api.token(business["id"])

    fake.expire_tokens()

    assert api.get(path, token=partner_token).status_code == 401
    assert api.get(path, token=business_token).status_code == 401
    api.forget_tokens()
    assert api.get(path, business=business["id"]).status_code == 200


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer not-a-token", "Token abc"])
def test_missing_or_garbage_bearer_is_401(fake, header):
    headers = {"Authorization": header} if header else {}
    response = requests.get(f"{BASE}/v1/platform/businesses/", headers=headers)

    assert response.status_code == 401
    assert response.json()["error_code"] in ("authentication_required", "invalid_token")


def test_urls_outside_the_fake_are_not_reachable(fake):
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get("https://example.com/")
