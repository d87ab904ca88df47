"""The fake follows the docs where they are clear, and says where it is lenient on purpose."""

from __future__ import annotations

import pytest
import requests

from thredfi_django.testing.session import FakeApiSession


@pytest.fixture
def api(thredfi_fake, settings):
    return FakeApiSession(
        thredfi_fake.base_url, settings.THREDFI["PARTNER_UUID"], settings.THREDFI["API_KEY"]
    )


@pytest.fixture
def acme(api):
    return api.for_business(api.create_business()["id"])


@pytest.fixture
def bill(acme):
    acme.created("vendors/", {"external_id": "ven-1", "company_name": "Paper Co"})
    return acme.created("bills/", {
        "external_id": "bill-1", "vendor_external_id": "ven-1", "bill_date": "2025-01-10",
        "line_items": [{"quantity": 1, "unit_price_cents": 5000, "account_code": "5000"}],
    })  # fmt: skip


def bill_payment(bill, **overrides):
    return {
        "external_id": "bp-1",
        "vendor_id": bill["vendor"]["id"],
        "amount_cents": 1000,
        "allocations": [{"bill_id": bill["id"], "amount_cents": 1000}],
        **overrides,
    }


def test_bill_payments_take_only_a_business_token(api, acme, bill):
    partner = api.token()
    refused = acme.post("bills/payments/", bill_payment(bill), token=partner)
    listed_with_partner = acme.get("bills/", token=partner)  # the reference allows it here

    assert refused.status_code == 403
    assert refused.json()["error_code"] == "permission_denied"
    assert listed_with_partner.status_code == 200
    assert acme.post("bills/payments/", bill_payment(bill)).status_code == 201


def test_a_repeated_external_id_with_an_invalid_body_is_a_400_not_the_existing_record(acme):
    acme.created("customers/", {"external_id": "c-1", "individual_name": "Ann"})

    bad_repeat = acme.post("customers/", {"external_id": "c-1", "email": "not an email"})
    changed_repeat = acme.post("customers/", {"external_id": "c-1", "individual_name": "Bo"})

    assert bad_repeat.status_code == 400
    assert "email" in bad_repeat.json()["details"]
    # Kept lenient: a valid repeat answers the existing record even when its body differs.
    assert (changed_repeat.status_code, changed_repeat.json()["individual_name"]) == (200, "Ann")


def test_a_line_needs_its_quantity(acme, bill):
    response = acme.post("bills/", {
        "external_id": "bill-2", "vendor_external_id": "ven-1", "bill_date": "2025-01-10",
        "line_items": [{"unit_price_cents": 5000}],
    })  # fmt: skip
    assert response.status_code == 400
    assert response.json()["details"]["line_items[0].quantity"] == ["This field is required."]


@pytest.mark.parametrize(
    "country,entity_type,ok",
    [
        ("GB", "plc", True),
        ("GB", "gmbh", False),  # the guide's own example
        ("GB", "anything", False),  # GB's list is complete
        ("DE", "gmbh", True),
        ("DE", "limited", False),  # another country's code
        ("DE", "kgaa", True),  # DE's list is truncated in the docs: unknown codes pass
        ("BE", "bv", False),
        ("MY", "sole_trader", False),
        ("FR", "sas", True),  # France enforces no list
    ],
)
def test_entity_types_are_checked_for_every_country_that_enforces_them(
    api, country, entity_type, ok
):
    response = api.post("businesses/", {
        "external_id": f"{country}-{entity_type}", "legal_name": "X", "email": "x@example.com",
        "country": country, "entity_type": entity_type,
    })  # fmt: skip
    assert response.status_code == (201 if ok else 400), response.text
    if not ok:
        assert (
            f"Invalid entity_type '{entity_type}' for country {country}"
            in (response.json()["detail"])
        )


def test_duplicate_mode_makes_a_second_record_where_no_idempotency_key_is_documented(
    acme, bill, thredfi_fake
):
    thredfi_fake.duplicate_mode = "duplicate"
    first = acme.post("bills/payments/", bill_payment(bill, amount_cents=100, allocations=[]))
    second = acme.post("bills/payments/", bill_payment(bill, amount_cents=100, allocations=[]))
    customer = {"external_id": "c-1", "individual_name": "Ann"}
    customers = [acme.post("customers/", customer).status_code for _ in range(2)]

    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["id"] != second.json()["id"]
    assert thredfi_fake.count_by_external_id("bill_payments") == {"bp-1": 2}
    assert customers == [201, 200]  # customers are not in the unguarded list


def test_duplicate_mode_is_set_over_the_control_api(thredfi_fake_server):
    url = f"{thredfi_fake_server.url}/__fake__/config"
    answer = requests.post(url, json={"duplicate_mode": "duplicate"}, timeout=5)
    refused = requests.post(url, json={"duplicate_mode": "sometimes"}, timeout=5)

    assert answer.json()["duplicate_mode"] == "duplicate"
    assert thredfi_fake_server.duplicate_mode == "duplicate"
    assert refused.status_code == 400
