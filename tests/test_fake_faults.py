"""Fault injection in the fake: each kind, counters, and drop-after-apply idempotency."""

from __future__ import annotations

import pytest
import requests

from thredfi_django.testing import FakeThredfi
from thredfi_django.testing.session import FakeApiSession


@pytest.fixture
def api(thredfi_fake, settings):
    return FakeApiSession(
        thredfi_fake.base_url, settings.THREDFI["PARTNER_UUID"], settings.THREDFI["API_KEY"]
    )


@pytest.fixture
def acme(api):
    acme = api.for_business(api.create_business()["id"])
    api.token(acme.business_id)  # mint tokens before faults are switched on
    return acme


CUSTOMER = {"external_id": "cust-1", "company_name": "Globex"}


def test_fail_next_500_answers_once_with_a_shape_2_body(acme, thredfi_fake):
    thredfi_fake.fail_next(status=500)

    failed = acme.post("customers/", CUSTOMER)
    retried = acme.post("customers/", CUSTOMER)

    assert failed.status_code == 500
    assert failed.json()["error_code"] == "server_error"
    assert failed.json()["request_id"]
    assert retried.status_code == 201  # the failed attempt stored nothing
    assert thredfi_fake.stats.faults == {"server_error": 1}


def test_a_502_looks_like_a_proxy_page(acme, thredfi_fake):
    thredfi_fake.fail_next(status=502)

    response = acme.get("customers/")

    assert response.status_code == 502
    assert response.headers["Content-Type"].startswith("text/html")


def test_429_carries_retry_after(acme, thredfi_fake):
    thredfi_fake.fail_next(status=429, retry_after=7)

    response = acme.get("customers/")

    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert response.json()["error_code"] == "rate_limited"
    assert thredfi_fake.stats.faults == {"rate_limit": 1}


def test_a_one_shot_503_may_carry_retry_after_too(acme, thredfi_fake):
    thredfi_fake.fail_next(status=503, retry_after=30)
    thredfi_fake.fail_next(status=500)

    first, second = acme.get("customers/"), acme.get("customers/")

    assert (first.status_code, first.headers["Retry-After"]) == (503, "30")
    assert second.status_code == 500
    assert "Retry-After" not in second.headers


def test_drop_after_apply_leaves_exactly_one_record_when_retried(acme, thredfi_fake):
    thredfi_fake.fail_next(status="drop", path_contains="/customers/")

    with pytest.raises(requests.exceptions.ConnectionError):
        acme.post("customers/", CUSTOMER)
    stored = thredfi_fake.records("customers")
    retried = acme.post("customers/", CUSTOMER)

    assert [c["external_id"] for c in stored] == ["cust-1"]  # applied before the drop
    assert retried.status_code == 200
    assert retried.json()["id"] == stored[0]["id"]
    assert thredfi_fake.count_by_external_id("customers") == {"cust-1": 1}
    assert thredfi_fake.stats.faults == {"drop": 1}


def test_fail_next_only_hits_matching_paths(acme, thredfi_fake):
    thredfi_fake.fail_next(count=2, status=503, path_contains="/invoices/")

    customers = acme.get("customers/")
    invoices = [acme.get("invoices/").status_code for _ in range(3)]

    assert customers.status_code == 200
    assert invoices == [503, 503, 200]


def test_random_faults_follow_the_rates_and_the_paths_filter(acme, thredfi_fake):
    thredfi_fake.set_faults(server_error_rate=1.0, paths=["/invoices/"])

    assert acme.get("customers/").status_code == 200
    assert acme.get("invoices/").status_code in (500, 502, 503)

    thredfi_fake.set_faults()  # all zero: off
    assert acme.get("invoices/").status_code == 200


def test_seeded_faults_are_reproducible(settings):
    def run(seed):
        fake = FakeThredfi()
        fake.set_faults(server_error_rate=0.3, rate_limit_rate=0.2, seed=seed)
        return [fake.handle("GET", "/v1/platform/businesses/", {}, b"")[0] for _ in range(40)]

    first, second = run(3), run(3)

    assert first == second
    assert 429 in first  # rate limited
    assert 401 in first  # not faulted: answered normally (no token sent)
    assert any(status >= 500 for status in first)


def test_slow_faults_wait_before_answering(acme, thredfi_fake):
    delays = []
    thredfi_fake.sleep = delays.append
    thredfi_fake.set_faults(slow_rate=1.0, slow_seconds=0.25)

    response = acme.get("customers/")

    assert response.status_code == 200
    assert delays == [0.25]
    assert thredfi_fake.stats.faults == {"slow": 1}


def test_faults_never_touch_control_endpoints(thredfi_fake):
    thredfi_fake.set_faults(server_error_rate=1.0)

    response = requests.get(thredfi_fake.base_url + "/__fake__/stats")

    assert response.status_code == 200
    assert response.json()["total_requests"] == 0


def test_token_endpoints_are_faulted_too(api, thredfi_fake):
    thredfi_fake.fail_next(status=503)

    with pytest.raises(requests.exceptions.HTTPError):
        api.token()


@pytest.mark.parametrize(
    "settings_",
    [{"server_error_rate": 1.5}, {"server_error_rate": 0.6, "rate_limit_rate": 0.6}],
)
def test_impossible_fault_rates_are_refused(settings_):
    with pytest.raises(ValueError):
        FakeThredfi().set_faults(**settings_)


def test_stats_count_requests_per_endpoint_template(acme, thredfi_fake):
    acme.post("customers/", CUSTOMER)
    acme.get("customers/")
    acme.get("customers")

    stats = thredfi_fake.stats
    template = "/v1/platform/businesses/{business_id}/customers/"
    assert stats.requests[f"GET {template}"] == 2
    assert stats.requests[f"POST {template}"] == 1
    assert stats.tokens_issued == {"partner": 1, "business": 1}
    assert stats["total_requests"] == sum(stats.requests.values())


def test_a_retrying_client_under_random_faults_ends_with_one_record_per_external_id(
    acme, thredfi_fake
):
    thredfi_fake.set_faults(
        server_error_rate=0.2, rate_limit_rate=0.1, drop_after_apply_rate=0.15, seed=7
    )
    answers, dropped = {}, set()
    for n in range(60):
        body = {"external_id": f"cust-{n}", "individual_name": f"Customer {n}"}
        for _attempt in range(50):
            try:
                response = acme.post("customers/", body)
            except requests.exceptions.ConnectionError:
                dropped.add(n)  # applied, but we never heard: the retry must find it
                continue
            if response.status_code in (200, 201):
                answers[n] = response.status_code
                break

    faults = thredfi_fake.stats.faults
    assert len(answers) == 60
    assert thredfi_fake.count_by_external_id("customers") == {f"cust-{n}": 1 for n in range(60)}
    assert faults["drop"] > 0 and faults["server_error"] > 0 and faults["rate_limit"] > 0
    # 201 exactly for the customers whose first successful write was answered.
    assert {n for n, status in answers.items() if status == 200} == dropped
