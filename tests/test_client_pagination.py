"""Listing walks every page, in either envelope the docs show, and never loops forever."""

import json
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from thredfi_django.client import PaginationError, ThredfiClient
from thredfi_django.client.pagination import iterate

BASE = "https://thredfi.test"
BUSINESS = "b-1"
INVOICES = f"{BASE}/v1/platform/businesses/{BUSINESS}/invoices/"


@pytest.fixture
def api():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.post(f"{BASE}/v1/platform/oauth2/token/", json={"access_token": "p", "expires_in": 60})
        rsps.post(
            f"{BASE}/v1/platform/{BUSINESS}/oauth2/token/",
            json={"access_token": "b", "expires_in": 3600},
        )
        yield rsps


@pytest.fixture
def invoices():
    return ThredfiClient("partner", "key", BASE).business(BUSINESS).invoices


def query(call):
    return query_of(call.request.url)


def query_of(url):
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def list_calls(api):
    return [query(c) for c in api.calls if c.request.url.startswith(INVOICES)]


def records(start, stop):
    return [{"id": f"inv-{i}"} for i in range(start, stop)]


def page_info_server(total, page_size=100):
    """A server speaking the API reference's page_info envelope."""

    def callback(request):
        page = int(query_of(request.url).get("page", 1))
        pages = max(1, -(-total // page_size))
        body = {
            "count": total,
            "page_info": {
                "total_count": total,
                "current_page": page,
                "total_pages": pages,
                "page_size": page_size,
            },
            "results": records((page - 1) * page_size, min(total, page * page_size)),
        }
        return 200, {}, json.dumps(body)

    return callback


def test_the_reference_page_info_envelope_is_walked_to_the_last_page(api, invoices):
    api.add_callback("GET", INVOICES, callback=page_info_server(250))
    ids = [invoice["id"] for invoice in invoices.list(status="unpaid")]
    assert ids == [f"inv-{i}" for i in range(250)]
    calls = list_calls(api)
    assert [c["page"] for c in calls] == ["1", "2", "3"]
    assert all(c["page_size"] == "100" and c["status"] == "unpaid" for c in calls)


def test_a_full_last_page_stops_on_total_pages_without_asking_for_an_empty_one(api, invoices):
    api.add_callback("GET", INVOICES, callback=page_info_server(200))
    assert len(list(invoices.list())) == 200
    assert len(list_calls(api)) == 2


def test_a_server_with_a_smaller_page_size_is_still_walked_to_the_end(api, invoices):
    api.add_callback("GET", INVOICES, callback=page_info_server(45, page_size=20))
    assert len(list(invoices.list())) == 45
    assert len(list_calls(api)) == 3


def test_the_guides_next_previous_envelope_follows_next(api, invoices):
    api.get(
        INVOICES,
        json={
            "count": 3,
            "next": "https://elsewhere.example/v1/platform/businesses/b-1/invoices/?page=2&page_size=100",
            "previous": None,
            "results": records(0, 2),
        },
    )
    api.get(INVOICES, json={"count": 3, "next": None, "previous": "x", "results": records(2, 3)})
    assert [i["id"] for i in invoices.list()] == ["inv-0", "inv-1", "inv-2"]
    # The next link's query is honoured, but on our own host: tokens never go elsewhere.
    assert all(c.request.url.startswith(BASE) for c in api.calls)
    assert [c["page"] for c in list_calls(api)] == ["1", "2"]


def test_a_cursor_in_the_next_link_is_passed_along(api, invoices):
    api.get(INVOICES, json={"next": f"{INVOICES}?cursor=abc", "results": records(0, 100)})
    api.get(INVOICES, json={"next": None, "results": records(100, 101)})
    assert len(list(invoices.list())) == 101
    assert list_calls(api)[1]["cursor"] == "abc"


def test_a_bare_envelope_stops_at_a_short_page(api, invoices):
    api.get(INVOICES, json={"results": records(0, 100)})
    api.get(INVOICES, json={"results": records(100, 130)})
    assert len(list(invoices.list())) == 130
    assert len(list_calls(api)) == 2


def test_an_empty_list_is_one_call(api, invoices):
    api.get(INVOICES, json={"count": 0, "next": None, "previous": None, "results": []})
    assert list(invoices.list()) == []
    assert len(list_calls(api)) == 1


def test_an_unpaginated_json_array_is_accepted(api, invoices):
    api.get(INVOICES, json=records(0, 3))
    assert len(list(invoices.list())) == 3


def test_a_server_that_ignores_page_and_repeats_itself_is_stopped(api, invoices):
    api.get(INVOICES, json={"count": 1000, "results": records(0, 100)})  # same page forever
    with pytest.raises(PaginationError, match="repeats the previous page"):
        list(invoices.list())
    assert len(list_calls(api)) == 2


def test_a_next_link_pointing_at_the_same_page_is_stopped(api, invoices):
    api.get(INVOICES, json={"next": f"{INVOICES}?page=1&page_size=100", "results": records(0, 5)})
    with pytest.raises(PaginationError):
        list(invoices.list())


def test_a_server_that_never_ends_is_stopped_at_a_bound():
    pages = []

    def fetch(params):
        pages.append(params["page"])
        page = params["page"]
        return {
            "next": f"x?page={int(page) + 1}",
            "results": [{"id": f"{page}-{i}"} for i in range(2)],
        }

    with pytest.raises(PaginationError, match="more than 5 pages"):
        list(iterate(fetch, max_pages=5))
    assert len(pages) == 5


def test_listing_is_lazy(api, invoices):
    api.add_callback("GET", INVOICES, callback=page_info_server(250))
    iterator = invoices.list()
    assert list_calls(api) == []
    next(iterator)
    assert len(list_calls(api)) == 1
