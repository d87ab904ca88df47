"""Stories of the client against the fake Thredfi (``thredfi_fake``): a partner onboards a
business and books its receivables, while tokens expire, responses get lost, and the server
pushes back."""

import datetime as dt
import itertools

import pytest
from django.conf import settings

from thredfi_django.client import ThredfiClient, get_client
from thredfi_django.client.shared import DjangoCache
from thredfi_django.exceptions import (
    ThredfiAuthenticationError,
    ThredfiConflictError,
    ThredfiConnectionError,
    ThredfiNotFoundError,
    ThredfiPermissionError,
    ThredfiRateLimitError,
    ThredfiServerError,
    ThredfiValidationError,
)
from thredfi_django.money import format_date, format_datetime, to_cents

_numbers = itertools.count(1)


def business_body(**overrides):
    n = next(_numbers)
    return {
        "external_id": f"dj:tests:business:{n}",
        "legal_name": f"Acme {n} Ltd",
        "entity_type": "limited",
        "email": f"owner{n}@acme.example",
        "country": "GB",
        "base_currency": "GBP",
        **overrides,
    }


@pytest.fixture
def client(thredfi_fake):
    return get_client()


@pytest.fixture
def acme(client):
    return client.business(client.businesses.create(business_body())["id"])


@pytest.fixture
def globex(acme):
    return acme.customers.create({"external_id": "dj:tests:customer:1", "company_name": "Globex"})


def invoice_for(customer, external_id="dj:tests:invoice:1", **overrides):
    return {
        "external_id": external_id,
        "customer_id": customer["id"],
        "sent_at": format_datetime(dt.date(2025, 1, 15)),
        "line_items": [
            {"description": "Widgets", "quantity": "3", "unit_price_cents": to_cents("12.50")}
        ],
        **overrides,
    }


def payment_for(customer, invoice, amount_cents, external_id="dj:tests:payment:1"):
    return {
        "external_id": external_id,
        "customer_id": customer["id"],
        "total_amount_cents": amount_cents,
        "currency": "GBP",
        "payment_date": format_date("2025-01-20"),
        "payment_method": "bank_transfer",
        "allocations": [{"invoice_id": invoice["id"], "amount_cents": amount_cents}],
    }


def test_a_day_of_bookkeeping_costs_one_partner_and_one_business_token(thredfi_fake, client):
    acme = client.business(client.businesses.create(business_body())["id"])
    globex = acme.customers.create({"external_id": "dj:tests:customer:1", "company_name": "G"})
    for n in range(24):
        invoice = acme.invoices.create(invoice_for(globex, f"dj:tests:invoice:{n}"))
        acme.payments.create(
            payment_for(globex, invoice, 3750, f"dj:tests:payment:{n}"),
            idempotency_key=f"dj:tests:payment:{n}",
        )
    assert thredfi_fake.stats.total_requests >= 50
    assert thredfi_fake.stats.tokens_issued == {"partner": 1, "business": 1}


def test_worker_processes_share_their_tokens(thredfi_fake, acme):
    """Another process (a fresh client on the same Django cache) reuses the cached tokens."""
    s = settings.THREDFI
    other = ThredfiClient(
        s["PARTNER_UUID"],
        s["API_KEY"],
        thredfi_fake.base_url,
        cache=DjangoCache("default"),
        cache_secret=settings.SECRET_KEY,  # as get_client() builds it
    )
    other.business(acme.business_id).customers.create({"external_id": "c", "company_name": "C"})
    assert thredfi_fake.stats.tokens_issued == {"partner": 1, "business": 1}


def test_tokens_expiring_mid_stream_cost_one_refresh_and_one_replay(thredfi_fake, acme, globex):
    acme.invoices.create(invoice_for(globex))
    before = thredfi_fake.stats.total_requests
    thredfi_fake.expire_tokens()

    invoice = acme.invoices.get(acme.invoices.find_by_external_id("dj:tests:invoice:1")["id"])

    assert invoice["external_id"] == "dj:tests:invoice:1"
    # find: 401, business token (401: partner expired too), partner token, business token,
    # replayed list; then the get with the new token.
    assert thredfi_fake.stats.total_requests - before == 6
    assert thredfi_fake.stats.tokens_issued == {"partner": 2, "business": 2}


def test_a_401_that_will_not_go_away_is_raised_after_one_replay(thredfi_fake, acme, globex):
    get_customer = "GET /v1/platform/businesses/{business_id}/customers/{customer_id}/"
    thredfi_fake.fail_next(count=5, status=401, path_contains="/customers/")
    with pytest.raises(ThredfiAuthenticationError):
        acme.customers.get(globex["id"])
    assert thredfi_fake.stats.requests[get_customer] == 2  # the call and its one replay
    assert thredfi_fake.stats.tokens_issued == {"partner": 1, "business": 2}


def test_the_frontend_token_is_scoped_to_its_business(thredfi_fake, client, acme):
    other = client.business(client.businesses.create(business_body())["id"])
    token = client.business_token(acme.business_id)
    assert token["expires_in"] > 3000
    # Put acme's token where the other business's would be: Thredfi says 403, and no refresh
    # is attempted for a wrong scope.
    client.tokens.cache.set(
        client.tokens.key(other.business_id),
        client.tokens.cache.get(client.tokens.key(acme.business_id)),
    )
    issued = dict(thredfi_fake.stats.tokens_issued)
    with pytest.raises(ThredfiPermissionError):
        list(other.customers.list())
    assert thredfi_fake.stats.tokens_issued == issued


def test_a_business_of_another_partner_gets_no_token(thredfi_fake, client):
    thredfi_fake.add_partner("another-partner", "their-key")
    theirs = thredfi_fake.add_business("another-partner")
    with pytest.raises(ThredfiNotFoundError) as caught:
        client.business(theirs["id"]).customers.create({"external_id": "c", "company_name": "C"})
    assert caught.value.error_code == "business_not_found"
    assert client.tokens.read(theirs["id"]) is None  # nothing cached for it
    assert thredfi_fake.records("customers") == []


def test_creating_twice_adopts_the_existing_record(thredfi_fake, client):
    body = business_body()
    first = client.businesses.create(body)
    second = client.businesses.create(body)
    assert (first.http_status, second.http_status) == (201, 200)
    assert first["id"] == second["id"]
    assert thredfi_fake.count_by_external_id("businesses") == {body["external_id"]: 1}


def test_a_409_duplicate_is_resolved_by_looking_the_record_up(thredfi_fake, acme, globex):
    thredfi_fake.duplicate_mode = "409"
    with pytest.raises(ThredfiConflictError) as caught:
        acme.customers.create({"external_id": "dj:tests:customer:1", "company_name": "Globex"})
    assert caught.value.status_code == 409
    assert acme.customers.find_by_external_id("dj:tests:customer:1")["id"] == globex["id"]


def test_a_payment_replayed_with_its_idempotency_key_is_recorded_once(thredfi_fake, acme, globex):
    invoice = acme.invoices.create(invoice_for(globex))
    body = payment_for(globex, invoice, 1000)
    first = acme.payments.create(body, idempotency_key=body["external_id"])
    replay = acme.payments.create(body, idempotency_key=body["external_id"])
    assert (first.http_status, replay.http_status) == (201, 200)
    assert first["id"] == replay["id"]
    assert first["idempotency_key"] == body["external_id"]  # the header reached Thredfi
    assert thredfi_fake.count_by_external_id("payments") == {body["external_id"]: 1}
    assert [p["id"] for p in acme.payments.list()] == [first["id"]]


def test_a_lost_response_is_found_again_by_external_id(thredfi_fake, acme, globex):
    """The create was applied, but the connection dropped before the answer arrived."""
    thredfi_fake.fail_next(status="drop", path_contains="/invoices/")
    with pytest.raises(ThredfiConnectionError) as caught:
        acme.invoices.create(invoice_for(globex))
    assert caught.value.transient
    found = acme.invoices.find_by_external_id("dj:tests:invoice:1")
    assert found is not None and found["customer"]["id"] == globex["id"]
    assert acme.invoices.find_by_external_id("dj:tests:invoice:2") is None


def test_an_archived_customer_is_still_found_by_external_id(acme, globex):
    acme.customers.archive(globex["id"])
    assert acme.customers.find_by_external_id(globex["external_id"])["id"] == globex["id"]
    assert acme.customers.unarchive(globex["id"])["is_archived"] is False


@pytest.mark.parametrize("style", ["page_info", "next"])
def test_listing_walks_every_page_of_either_envelope(thredfi_fake, acme, style):
    for n in range(205):
        acme.vendors.create({"external_id": f"dj:tests:vendor:{n}", "company_name": f"V{n}"})
    thredfi_fake.pagination_style = style
    before = thredfi_fake.stats.total_requests
    vendors = list(acme.vendors.list())
    assert len({v["id"] for v in vendors}) == 205
    assert thredfi_fake.stats.total_requests - before == 3  # 100 + 100 + 5
    assert acme.vendors.find_by_external_id("dj:tests:vendor:204")["company_name"] == "V204"


def test_rate_limiting_says_when_to_come_back(thredfi_fake, acme):
    thredfi_fake.fail_next(status=429, retry_after=30, path_contains="/vendors/")
    with pytest.raises(ThredfiRateLimitError) as caught:
        acme.vendors.create({"external_id": "v", "company_name": "V"})
    assert caught.value.retry_after == 30
    assert caught.value.transient


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_transient(thredfi_fake, acme, status):
    thredfi_fake.fail_next(status=status, path_contains="/vendors/")
    with pytest.raises(ThredfiServerError) as caught:
        acme.vendors.create({"external_id": "v", "company_name": "V"})
    assert caught.value.transient and caught.value.status_code == status
    assert thredfi_fake.count_by_external_id("vendors", acme.business_id) == {}


def test_invalid_data_names_the_field(acme):
    with pytest.raises(ThredfiValidationError) as caught:
        line = {"quantity": 1, "unit_price_cents": 100}
        acme.invoices.create(
            {"external_id": "i", "customer_external_id": "nobody", "line_items": [line]}
        )
    assert "customer_external_id" in caught.value.field_errors
    assert not caught.value.transient


def test_wrong_credentials_point_at_the_settings(thredfi_fake):
    client = ThredfiClient(settings.THREDFI["PARTNER_UUID"], "wrong-key", thredfi_fake.base_url)
    with pytest.raises(ThredfiAuthenticationError, match=r"THREDFI\['API_KEY'\]") as caught:
        list(client.businesses.list())
    assert "wrong-key" not in str(caught.value)


def test_accounts_payable_round_trip(acme):
    vendor = acme.vendors.create({"external_id": "dj:tests:vendor:1", "company_name": "Initech"})
    bill = acme.bills.create(
        {
            "external_id": "dj:tests:bill:1",
            "vendor_id": vendor["id"],
            "bill_date": "2025-01-10",
            "line_items": [{"description": "Paper", "quantity": 1, "unit_price_cents": 5000}],
        }
    )
    acme.bills.update(bill["id"], {"memo": "Q1 paper"})
    assert acme.bills.get(bill["id"])["memo"] == "Q1 paper"
    payment = acme.bill_payments.create(
        {
            "external_id": "dj:tests:bill-payment:1",
            "vendor_id": vendor["id"],
            "amount_cents": 5000,
            "currency": "GBP",
            "payment_method": "bank_transfer",
            "payment_date": "2025-01-12",
            "allocations": [{"bill_id": bill["id"], "amount_cents": 5000}],
        }
    )
    assert payment.created
    assert acme.bill_payments.update(payment["id"], {"memo": "paid"})["memo"] == "paid"
    assert acme.bill_payments.find_by_external_id("dj:tests:bill-payment:1")["id"] == payment["id"]


def test_refund_and_refund_payment(acme, globex):
    invoice = acme.invoices.create(invoice_for(globex))
    acme.payments.create(payment_for(globex, invoice, 3750))
    refund = acme.refunds.create(
        {
            "external_id": "dj:tests:refund:1",
            "invoice_id": invoice["id"],
            "amount_cents": 1000,
            "method": "BANK_TRANSFER",
            "completed_at": "2025-01-25T00:00:00Z",
        }
    )
    paid = acme.refund_payments(refund["id"]).create(
        {
            "external_id": "dj:tests:refund-payment:1",
            "amount_cents": 1000,
            "method": "BANK_TRANSFER",
            "completed_at": "2025-01-26T00:00:00Z",
        }
    )
    assert acme.refunds.get(refund["id"])["id"] == refund["id"]
    assert [p["id"] for p in acme.refund_payments(refund["id"]).list()] == [paid["id"]]


def test_voiding_an_invoice(acme, globex):
    invoice = acme.invoices.create(invoice_for(globex))
    voided = acme.invoices.void(invoice["id"])
    assert voided["voided_at"]
