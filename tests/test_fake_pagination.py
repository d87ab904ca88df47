"""The fake's list endpoints: both documented envelopes, page sizes, filters."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from thredfi_django.testing.session import FakeApiSession


@pytest.fixture
def acme(thredfi_fake, settings):
    api = FakeApiSession(
        thredfi_fake.base_url, settings.THREDFI["PARTNER_UUID"], settings.THREDFI["API_KEY"]
    )
    acme = api.for_business(api.create_business()["id"])
    for n in range(45):
        acme.created("customers/", {"external_id": f"c-{n:02d}", "individual_name": f"N {n}"})
    return acme


def test_page_info_envelope_by_default(acme):
    body = acme.get("customers/", params={"page": 3}).json()

    assert body["count"] == 45
    assert body["page_info"] == {
        "total_count": 45, "current_page": 3, "total_pages": 3, "page_size": 20,
    }  # fmt: skip
    assert [c["external_id"] for c in body["results"]] == ["c-40", "c-41", "c-42", "c-43", "c-44"]
    assert "next" not in body


def test_next_envelope_links_are_absolute_and_walk_every_page(acme, thredfi_fake):
    thredfi_fake.pagination_style = "next"
    seen, url = [], acme.api.url(f"businesses/{acme.business_id}/customers/") + "?page_size=10"
    token = acme.api.token(acme.business_id)
    while url:
        body = requests.get(url, headers={"Authorization": f"Bearer {token}"}).json()
        assert set(body) == {"count", "next", "previous", "results"}
        seen += [c["external_id"] for c in body["results"]]
        url = body["next"]
        if url:
            assert url.startswith(thredfi_fake.base_url + "/v1/platform/")
            assert parse_qs(urlsplit(url).query)["page_size"] == ["10"]

    assert seen == [f"c-{n:02d}" for n in range(45)]
    second = acme.get("customers/", params={"page": 2, "page_size": 10}).json()
    assert parse_qs(urlsplit(second["previous"]).query)["page"] == ["1"]


def test_page_size_is_clamped_to_100_and_bad_values_are_named(acme):
    big = acme.get("customers/", params={"page_size": 500}).json()
    bad = acme.get("customers/", params={"page": 0, "page_size": "x"})

    assert big["page_info"]["page_size"] == 100
    assert len(big["results"]) == 45
    assert bad.status_code == 400
    assert set(bad.json()["details"]) == {"page", "page_size"}


def test_a_page_past_the_end_is_empty(acme):
    body = acme.get("customers/", params={"page": 9}).json()

    assert body["results"] == []
    assert body["page_info"]["total_pages"] == 3


def test_external_id_filters_on_customers_and_invoices(acme):
    line = {"quantity": 1, "unit_price_cents": 100}
    acme.created("invoices/", {"external_id": "inv-1", "customer_external_id": "c-07",
                               "line_items": [line]})  # fmt: skip

    by_id = acme.get("customers/", params={"external_id": "c-07"}).json()["results"]
    by_customer = acme.get("customers/", params={"customer_external_id": "c-07"}).json()
    invoices = acme.get("invoices/", params={"customer_external_id": "c-07"}).json()["results"]
    none = acme.get("invoices/", params={"customer_external_id": "c-08"}).json()["results"]

    assert [c["external_id"] for c in by_id] == ["c-07"]
    assert by_customer["count"] == 1
    assert [i["external_id"] for i in invoices] == ["inv-1"]
    assert none == []
