"""The fake's businesses and customers: idempotent creates, validation shapes, archive rules."""

from __future__ import annotations

import pytest

from thredfi_django.testing.session import FakeApiSession


@pytest.fixture
def api(thredfi_fake, settings):
    return FakeApiSession(
        thredfi_fake.base_url, settings.THREDFI["PARTNER_UUID"], settings.THREDFI["API_KEY"]
    )


@pytest.fixture
def acme(api):
    return api.for_business(api.create_business()["id"])


BUSINESS = {
    "external_id": "shop-42",
    "legal_name": "Acme Trading Ltd",
    "entity_type": "Limited",
    "email": "owner@acme.example",
    "country": "GB",
    "base_currency": "GBP",
}


def test_creating_a_business_twice_returns_the_same_record_with_200(api, thredfi_fake):
    first = api.post("businesses/", BUSINESS)
    again = api.post("businesses/", {**BUSINESS, "legal_name": "Renamed Ltd"})

    assert first.status_code == 201
    assert first.json()["_meta"] == {"created": True}
    assert again.status_code == 200
    assert again.json()["_meta"] == {"created": False}
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["legal_name"] == "Acme Trading Ltd"  # the existing record, unchanged
    assert first.json()["entity_type"] == "limited"  # stored lowercase
    assert thredfi_fake.count_by_external_id("businesses") == {"shop-42": 1}


def test_duplicate_mode_409_answers_duplicate_external_id_with_the_existing_id(api, thredfi_fake):
    thredfi_fake.duplicate_mode = "409"
    first = api.post("businesses/", BUSINESS).json()

    again = api.post("businesses/", BUSINESS)

    assert again.status_code == 409
    assert again.json()["error_code"] == "duplicate_external_id"
    assert again.json()["detail"]["id"] == first["id"]


def test_missing_required_business_fields_are_named(api):
    response = api.post("businesses/", {"legal_name": "No Id Ltd", "country": "XX"})

    assert response.status_code == 400
    body = response.json()
    assert body["error_code"] == "validation_error"
    assert body["error"] == "Validation errors in request data"
    assert set(body["details"]) == {"external_id", "entity_type", "email", "country"}


def test_unknown_currency_and_overlong_fields_are_refused(api):
    response = api.post(
        "businesses/", {**BUSINESS, "base_currency": "JPY", "vat_number": "GB" + "1" * 30}
    )

    assert response.status_code == 400
    assert "base_currency" in response.json()["details"]
    response = api.post("businesses/", {**BUSINESS, "vat_number": "GB" + "1" * 30})
    assert "vat_number" in response.json()["details"]


def test_gb_entity_type_outside_the_list_gets_the_guides_string_detail(api):
    response = api.post("businesses/", {**BUSINESS, "entity_type": "gmbh"})

    assert response.status_code == 400
    assert response.json()["error_code"] == "validation_error"
    assert "Invalid entity_type 'gmbh' for country GB" in response.json()["detail"]


def test_patch_updates_fields_but_refuses_country_currency_and_external_id(api):
    business = api.create_business()
    path = f"businesses/{business['id']}/"

    renamed = api.request("PATCH", path, {"legal_name": "Acme Group Ltd", "country": "GB"})
    refused = api.request("PATCH", path, {"country": "DE", "base_currency": "EUR"})

    assert renamed.status_code == 200
    assert renamed.json()["legal_name"] == "Acme Group Ltd"
    assert refused.status_code == 400
    assert set(refused.json()["details"]) == {"country", "base_currency"}
    assert api.get(path).json()["country"] == "GB"


def test_business_list_hides_archived_ones_and_filters(api):
    kept = api.create_business(external_id="kept")
    gone = api.create_business(external_id="gone", country="NL", entity_type="bv")
    api.post(f"businesses/{gone['id']}/archive/")

    active = api.get("businesses/").json()["results"]
    archived = api.get("businesses/", params={"is_archived": "true"}).json()["results"]
    by_id = api.get("businesses/", params={"external_id": "kept"}).json()["results"]

    assert [b["id"] for b in active] == [kept["id"]]
    assert [b["id"] for b in archived] == [gone["id"]]
    assert [b["id"] for b in by_id] == [kept["id"]]


def test_add_business_seeds_without_http(thredfi_fake, settings, api):
    seeded = thredfi_fake.add_business(settings.THREDFI["PARTNER_UUID"], legal_name="Seeded Ltd")

    assert api.get(f"businesses/{seeded['id']}/").json()["legal_name"] == "Seeded Ltd"
    assert thredfi_fake.stats.requests.get("POST /v1/platform/businesses/") is None


def test_customer_create_is_idempotent_per_business(api, acme, thredfi_fake):
    other = api.for_business(api.create_business(external_id="other")["id"])
    body = {"external_id": "cust-1", "company_name": "Globex", "email": "ap@globex.example"}

    first = acme.post("customers/", body)
    again = acme.post("customers/", body)
    elsewhere = other.post("customers/", body)

    assert (first.status_code, again.status_code, elsewhere.status_code) == (201, 200, 201)
    assert again.json()["id"] == first.json()["id"]
    assert elsewhere.json()["id"] != first.json()["id"]
    assert thredfi_fake.count_by_external_id("customers", acme.business_id) == {"cust-1": 1}
    assert first.json()["display_name"] == "Globex"


def test_customer_validation_names_fields(acme):
    response = acme.post("customers/", {"external_id": "c", "email": "not-an-email",
                                        "credit_limit_cents": 0})  # fmt: skip

    assert response.status_code == 400
    assert set(response.json()["details"]) == {"email", "credit_limit_cents"}


def test_archive_hides_a_customer_and_only_archived_ones_unarchive(acme):
    customer = acme.created("customers/", {"external_id": "c-1", "individual_name": "Ann"})
    path = f"customers/{customer['id']}/"

    not_archived = acme.post(path + "unarchive/")
    archived = acme.post(path + "archive/", {"individual_name": "ignored"})
    listed = acme.get("customers/").json()["results"]
    listed_all = acme.get("customers/", params={"include_archived": "true"}).json()["results"]
    restored = acme.post(path + "unarchive/")

    assert not_archived.status_code == 400
    assert "is_archived" in not_archived.json()["details"]
    assert archived.json()["is_archived"] is True
    assert archived.json()["archived_at"]
    assert listed == []
    assert [c["id"] for c in listed_all] == [customer["id"]]
    assert restored.status_code == 200
    assert restored.json()["is_archived"] is False


def test_unknown_records_are_404(acme):
    response = acme.get("customers/00000000-0000-0000-0000-000000000000/")

    assert response.status_code == 404
    assert response.json()["error_code"] == "customer_not_found"
    assert response.json()["request_id"]


def test_trailing_slash_is_optional(api, acme):
    assert api.get("businesses").status_code == 200
    assert acme.get("customers").status_code == 200
