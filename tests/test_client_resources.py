"""Each collection calls the documented path with the right verb, token and headers."""

import json

import pytest
import responses
from django.test import override_settings

from thredfi_django.client import Resource, ThredfiClient, get_client
from thredfi_django.client.resources import BusinessScope, Create, List, Retrieve, collection
from thredfi_django.exceptions import ThredfiConfigurationError

BASE = "https://thredfi.test"
ROOT = f"{BASE}/v1/platform"
BIZ = "00000000-0000-4000-8000-000000000001"
B = f"{ROOT}/businesses/{BIZ}"


@pytest.fixture
def api():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.post(f"{ROOT}/oauth2/token/", json={"access_token": "partner-tok", "expires_in": 3600})
        rsps.post(
            f"{ROOT}/{BIZ}/oauth2/token/", json={"access_token": "biz-tok", "expires_in": 3600}
        )
        yield rsps


@pytest.fixture
def client():
    return ThredfiClient("partner-uuid", "api-key", BASE)


def last(api):
    return api.calls[-1].request


def body(request):
    return json.loads(request.body) if request.body else None


def test_creating_a_business_says_whether_it_was_new_or_already_there(api, client):
    data = {"external_id": "dj:tests:acme", "legal_name": "Acme", "entity_type": "limited"}
    api.post(
        f"{ROOT}/businesses/",
        status=201,
        json={"id": "00000000-0000-4000-8000-000000000001", **data},
    )
    api.post(
        f"{ROOT}/businesses/",
        status=200,
        json={"id": "00000000-0000-4000-8000-000000000001", **data, "_meta": {}},
    )
    created = client.businesses.create(data)
    again = client.businesses.create(data)
    assert (created["id"], created.http_status, created.created) == (
        "00000000-0000-4000-8000-000000000001",
        201,
        True,
    )
    assert (again["id"], again.http_status, again.created) == (
        "00000000-0000-4000-8000-000000000001",
        200,
        False,
    )
    assert body(last(api)) == data
    assert last(api).headers["Content-Type"] == "application/json"
    # Business management uses the partner token; no business token was fetched.
    assert last(api).headers["Authorization"] == "Bearer partner-tok"
    assert not any(
        "/00000000-0000-4000-8000-000000000001/oauth2/" in c.request.url for c in api.calls
    )


def test_business_get_and_patch_use_the_partner_token(api, client):
    api.get(
        f"{ROOT}/businesses/00000000-0000-4000-8000-000000000001/",
        json={"id": "00000000-0000-4000-8000-000000000001"},
    )
    api.patch(
        f"{ROOT}/businesses/00000000-0000-4000-8000-000000000001/",
        json={"id": "00000000-0000-4000-8000-000000000001", "legal_name": "New"},
    )
    assert client.businesses.get("00000000-0000-4000-8000-000000000001") == {
        "id": "00000000-0000-4000-8000-000000000001"
    }
    assert (
        client.businesses.update("00000000-0000-4000-8000-000000000001", {"legal_name": "New"})[
            "legal_name"
        ]
        == "New"
    )
    assert (last(api).method, body(last(api))) == ("PATCH", {"legal_name": "New"})
    assert last(api).headers["Authorization"] == "Bearer partner-tok"


def test_customers_under_a_business_use_that_business_token(api, client):
    customers = client.business(BIZ).customers
    api.post(
        f"{B}/customers/",
        status=201,
        json={"id": "00000000-0000-4000-8000-000000000002", "external_id": "x"},
    )
    api.get(
        f"{B}/customers/00000000-0000-4000-8000-000000000002/",
        json={"id": "00000000-0000-4000-8000-000000000002"},
    )
    api.post(
        f"{B}/customers/00000000-0000-4000-8000-000000000002/archive/",
        json={"id": "00000000-0000-4000-8000-000000000002", "is_archived": True},
    )
    api.post(
        f"{B}/customers/00000000-0000-4000-8000-000000000002/unarchive/",
        json={"id": "00000000-0000-4000-8000-000000000002", "is_archived": False},
    )
    assert customers.create({"external_id": "x"}).http_status == 201
    assert (
        customers.get("00000000-0000-4000-8000-000000000002")["id"]
        == "00000000-0000-4000-8000-000000000002"
    )
    assert customers.archive("00000000-0000-4000-8000-000000000002")["is_archived"] is True
    assert customers.unarchive("00000000-0000-4000-8000-000000000002")["is_archived"] is False
    assert last(api).headers["Authorization"] == "Bearer biz-tok"
    assert not hasattr(customers, "update")  # no customer update is documented


def test_invoices_update_with_put_and_void_with_post(api, client):
    invoices = client.business(BIZ).invoices
    api.put(
        f"{B}/invoices/00000000-0000-4000-8000-000000000003/",
        json={"id": "00000000-0000-4000-8000-000000000003", "memo": "m"},
    )
    api.post(
        f"{B}/invoices/00000000-0000-4000-8000-000000000003/void/",
        json={"id": "00000000-0000-4000-8000-000000000003", "voided_at": "2025-01-01T00:00:00Z"},
    )
    invoices.update("00000000-0000-4000-8000-000000000003", {"memo": "m"})
    assert (api.calls[-1].request.method, body(api.calls[-1].request)) == ("PUT", {"memo": "m"})
    assert invoices.void("00000000-0000-4000-8000-000000000003")["voided_at"]


def test_a_payment_carries_its_idempotency_key_and_comes_back_unwrapped(api, client):
    payment = {
        "id": "00000000-0000-4000-8000-000000000004",
        "external_id": "dj:p:1",
        "idempotency_key": "dj:p:1",
    }
    api.post(f"{B}/invoices/payments/", status=201, json={"payment": payment})
    api.post(f"{B}/invoices/payments/", status=200, json={"payment": payment})
    payments = client.business(BIZ).payments
    first = payments.create({"external_id": "dj:p:1"}, idempotency_key="dj:p:1")
    replay = payments.create({"external_id": "dj:p:1"}, idempotency_key="dj:p:1")
    assert first == payment and first.http_status == 201
    assert replay == payment and replay.http_status == 200
    keys = [
        c.request.headers.get("Idempotency-Key") for c in api.calls if "payments" in c.request.url
    ]
    assert keys == ["dj:p:1", "dj:p:1"]


def test_no_idempotency_header_unless_asked(api, client):
    api.post(
        f"{B}/invoices/payments/",
        status=201,
        json={"payment": {"id": "00000000-0000-4000-8000-000000000004"}},
    )
    client.business(BIZ).payments.create({})
    assert "Idempotency-Key" not in last(api).headers


def test_refunds_and_their_payments_live_under_invoices(api, client):
    business = client.business(BIZ)
    api.post(
        f"{B}/invoices/refunds/", status=201, json={"id": "00000000-0000-4000-8000-000000000005"}
    )
    api.get(
        f"{B}/invoices/refunds/00000000-0000-4000-8000-000000000005/",
        json={"id": "00000000-0000-4000-8000-000000000005"},
    )
    api.post(
        f"{B}/invoices/refunds/00000000-0000-4000-8000-000000000005/payments/",
        status=201,
        json={"id": "00000000-0000-4000-8000-000000000006"},
    )
    api.get(
        f"{B}/invoices/refunds/00000000-0000-4000-8000-000000000005/payments/",
        json={"next": None, "results": [{"id": "00000000-0000-4000-8000-000000000006"}]},
    )
    assert (
        business.refunds.create({"invoice_id": "00000000-0000-4000-8000-000000000003"})["id"]
        == "00000000-0000-4000-8000-000000000005"
    )
    assert (
        business.refunds.get("00000000-0000-4000-8000-000000000005")["id"]
        == "00000000-0000-4000-8000-000000000005"
    )
    assert (
        business.refund_payments("00000000-0000-4000-8000-000000000005").create(
            {"amount_cents": 5}
        )["id"]
        == "00000000-0000-4000-8000-000000000006"
    )
    assert [
        p["id"] for p in business.refund_payments("00000000-0000-4000-8000-000000000005").list()
    ] == ["00000000-0000-4000-8000-000000000006"]


def test_vendors_bills_and_bill_payments(api, client):
    business = client.business(BIZ)
    api.post(f"{B}/vendors/", status=201, json={"id": "00000000-0000-4000-8000-000000000007"})
    api.post(
        f"{B}/vendors/00000000-0000-4000-8000-000000000007/archive/",
        json={"id": "00000000-0000-4000-8000-000000000007", "status": "ARCHIVED"},
    )
    api.post(
        f"{B}/vendors/00000000-0000-4000-8000-000000000007/unarchive/",
        json={"id": "00000000-0000-4000-8000-000000000007", "status": "ACTIVE"},
    )
    api.post(f"{B}/bills/", status=201, json={"id": "00000000-0000-4000-8000-000000000008"})
    api.put(
        f"{B}/bills/00000000-0000-4000-8000-000000000008/",
        json={"id": "00000000-0000-4000-8000-000000000008"},
    )
    api.post(
        f"{B}/bills/payments/", status=201, json={"id": "00000000-0000-4000-8000-000000000009"}
    )
    api.patch(
        f"{B}/bills/payments/00000000-0000-4000-8000-000000000009/",
        json={"id": "00000000-0000-4000-8000-000000000009", "status": "completed"},
    )
    api.get(
        f"{B}/bills/payments/00000000-0000-4000-8000-000000000009/",
        json={"id": "00000000-0000-4000-8000-000000000009"},
    )
    assert business.vendors.create({})["id"] == "00000000-0000-4000-8000-000000000007"
    assert business.vendors.archive("00000000-0000-4000-8000-000000000007")["status"] == "ARCHIVED"
    assert business.vendors.unarchive("00000000-0000-4000-8000-000000000007")["status"] == "ACTIVE"
    assert business.bills.create({})["id"] == "00000000-0000-4000-8000-000000000008"
    business.bills.update("00000000-0000-4000-8000-000000000008", {"memo": "x"})
    assert api.calls[-1].request.method == "PUT"
    assert business.bill_payments.create({})["id"] == "00000000-0000-4000-8000-000000000009"
    assert (
        business.bill_payments.update(
            "00000000-0000-4000-8000-000000000009", {"status": "completed"}
        )["status"]
        == "completed"
    )
    assert api.calls[-1].request.method == "PATCH"
    assert (
        business.bill_payments.get("00000000-0000-4000-8000-000000000009")["id"]
        == "00000000-0000-4000-8000-000000000009"
    )


def test_find_by_external_id_uses_the_filter_and_checks_the_answer(api, client):
    """A loose server match (here a prefix) is not mistaken for the record."""
    api.get(
        f"{B}/vendors/",
        json={
            "next": None,
            "results": [
                {"id": "v-10", "external_id": "v:10"},
                {"id": "00000000-0000-4000-8000-000000000007", "external_id": "v:1"},
            ],
        },
    )
    found = client.business(BIZ).vendors.find_by_external_id("v:1")
    assert found["id"] == "00000000-0000-4000-8000-000000000007"
    assert "external_id=v%3A1" in last(api).url
    assert "include_archived=true" in last(api).url


def test_find_by_external_id_scans_every_page_when_the_filter_is_ignored(api, client):
    page = {"page_info": {"current_page": 1, "total_pages": 2, "page_size": 100}}
    api.get(
        f"{B}/invoices/",
        json={**page, "results": [{"id": f"i-{n}", "external_id": f"e{n}"} for n in range(100)]},
    )
    page2 = {"page_info": {"current_page": 2, "total_pages": 2, "page_size": 100}}
    wanted = {"id": "00000000-0000-4000-8000-0000000000aa", "external_id": "wanted"}
    api.get(f"{B}/invoices/", json={**page2, "results": [wanted]})
    assert client.business(BIZ).invoices.find_by_external_id("wanted") == wanted


def test_find_by_external_id_answers_none_when_nothing_matches(api, client):
    api.get(f"{B}/customers/", json={"next": None, "results": [{"id": "c", "external_id": "y"}]})
    assert client.business(BIZ).customers.find_by_external_id("x") is None


def test_find_by_external_id_falls_back_when_the_server_rejects_the_filter(api, client):
    api.get(f"{B}/bills/", status=400, json={"error_code": "validation_error", "detail": "bad"})
    bill = {"id": "00000000-0000-4000-8000-0000000000bb", "external_id": "x"}
    api.get(f"{B}/bills/", json={"next": None, "results": [bill]})
    assert client.business(BIZ).bills.find_by_external_id("x") == bill
    assert "external_id" not in last(api).url


def test_ids_are_one_path_segment_and_never_empty(api, client):
    odd = "00000000-0000-4000-8000-000000000099"
    api.get(f"{B}/customers/a%2F..%2Fb/", json={"id": odd})
    assert client.business(BIZ).customers.get("a/../b")["id"] == odd
    with pytest.raises(ValueError, match="id is required"):
        client.business(BIZ).customers.get("")
    with pytest.raises(ValueError, match="business id"):
        client.business(None)


def test_adding_a_collection_takes_a_few_lines(api, client):
    class CustomerCredits(Create, List, Retrieve, Resource):
        path = "customer-credits/"

    class Scope(BusinessScope):
        customer_credits = collection(CustomerCredits)

    api.post(
        f"{B}/customer-credits/", status=201, json={"id": "00000000-0000-4000-8000-000000000010"}
    )
    assert (
        Scope(client, BIZ).customer_credits.create({})["id"]
        == "00000000-0000-4000-8000-000000000010"
    )
    # ... or attached to an existing scope class after the fact.
    Scope.credits = collection(CustomerCredits)
    assert (
        Scope(client, BIZ).credits.base_path
        == "/v1/platform/businesses/00000000-0000-4000-8000-000000000001/customer-credits/"
    )


def test_the_client_never_shows_its_api_key():
    client = ThredfiClient("partner-uuid", "sk_secret_key", BASE)
    assert "sk_secret_key" not in repr(client)
    assert "sk_secret_key" not in repr(vars(client.tokens))


def test_bad_construction_is_a_configuration_error_naming_the_setting():
    with pytest.raises(ThredfiConfigurationError, match="API_KEY"):
        ThredfiClient("partner-uuid", "", BASE)
    with pytest.raises(ThredfiConfigurationError, match="BASE_URL"):
        ThredfiClient("partner-uuid", "k", "sandbox.thredfi.com")
    with pytest.raises(ThredfiConfigurationError, match=r"\(connect, read\) pair.*TIMEOUT"):
        ThredfiClient("partner-uuid", "k", BASE, timeout=(5.0, 30.0, 60.0))


def test_get_client_is_built_from_settings_and_rebuilt_when_they_change():
    client = get_client()
    assert get_client() is client
    assert client.base_url == "https://sandbox.thredfi.com"
    settings = {"PARTNER_UUID": "p", "API_KEY": "k", "BASE_URL": "http://127.0.0.1:9/"}
    with override_settings(THREDFI={**settings, "TIMEOUT": [1, 2], "TOKEN_REFRESH_MARGIN": 60}):
        changed = get_client()
        assert changed is not client
        assert (changed.base_url, changed.timeout, changed.tokens.margin) == (
            "http://127.0.0.1:9",
            (1, 2),
            60.0,
        )
    assert get_client() is not changed


def test_get_client_names_missing_settings():
    with override_settings(THREDFI={"API_KEY": "k"}):
        with pytest.raises(ThredfiConfigurationError, match=r"THREDFI\['PARTNER_UUID'\]"):
            get_client()
    with override_settings(THREDFI={"PARTNER_UUID": "p", "API_KEY": "k", "TOKEN_CACHE": "nope"}):
        with pytest.raises(ThredfiConfigurationError, match="TOKEN_CACHE"):
            get_client()


def test_get_client_keeps_tokens_in_the_django_cache(api):
    from django.core.cache import caches

    with override_settings(THREDFI={"PARTNER_UUID": "p", "API_KEY": "k", "BASE_URL": BASE}):
        key = get_client().tokens.key("partner")
        caches["default"].delete(key)
        get_client().partner_token()
        sealed = caches["default"].get(key)
        assert "partner-tok" not in sealed, "tokens are encrypted at rest"
        assert get_client().tokens.seal.open(sealed).access_token == "partner-tok"
        caches["default"].delete(key)


def test_a_netrc_entry_for_the_thredfi_host_never_replaces_the_bearer_token(
    api, tmp_path, monkeypatch
):
    # requests, left to read the environment, would send this login as Basic auth instead.
    netrc = tmp_path / "netrc"
    netrc.write_text("machine thredfi.test login someone password secret\n")
    monkeypatch.setenv("NETRC", str(netrc))
    api.get(f"{B}/customers/", json={"results": [], "next": None})

    list(ThredfiClient("partner-uuid", "api-key", BASE).business(BIZ).customers.list())

    assert last(api).headers["Authorization"] == "Bearer biz-tok"


def test_the_proxy_and_ca_bundle_come_from_the_environment_once(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/company.pem")
    client = ThredfiClient("partner-uuid", "api-key", BASE)
    assert client.session.proxies["https"] == "http://proxy.internal:3128"
    assert client.session.verify == "/etc/ssl/company.pem"
    assert client.session.trust_env is False  # not looked up again on every call

    monkeypatch.setenv("NO_PROXY", "thredfi.test")
    assert "https" not in ThredfiClient("partner-uuid", "api-key", BASE).session.proxies


def test_a_session_you_pass_is_used_as_it_is():
    import requests

    session = requests.Session()
    client = ThredfiClient("partner-uuid", "api-key", BASE, session=session)
    assert client.session is session and session.trust_env is True


def test_a_cookie_the_api_sets_is_sent_back_like_requests_would(api, client):
    # e.g. a load balancer's affinity cookie: our prepared requests keep the session's jar.
    api.get(
        f"{B}/customers/",
        json={"results": [], "next": None},
        headers={"Set-Cookie": "lb=node-3; Path=/"},
    )
    customers = client.business(BIZ).customers
    list(customers.list())
    assert "Cookie" not in last(api).headers
    list(customers.list())
    assert last(api).headers["Cookie"] == "lb=node-3"
    assert last(api).headers["Authorization"] == "Bearer biz-tok"
