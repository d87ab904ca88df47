"""A tiny plain-``requests`` helper for talking to the fake in tests (not the real client).

    api = FakeApiSession(base_url, partner_uuid, api_key)
    business = api.create_business(external_id="b-1")
    api.post(f"businesses/{business['id']}/customers/", {...}, business=business["id"])

Deliberately independent of ``thredfi_django.client`` so the fake stays an independent oracle.
"""

from __future__ import annotations

from typing import Any

import requests

ROOT = "/v1/platform/"


class FakeApiSession:
    """Fetches and caches partner/business tokens, sends JSON, returns ``requests`` responses."""

    def __init__(self, base_url: str, partner_uuid: str, api_key: str):
        self.base_url = base_url.rstrip("/")
        self.partner_uuid, self.api_key = partner_uuid, api_key
        self.http = requests.Session()
        self._tokens: dict[str | None, str] = {}

    def url(self, path: str) -> str:
        return self.base_url + ROOT + path.lstrip("/")

    def token(self, business: str | None = None) -> str:
        """The partner token (``business=None``) or a business token, fetched once."""
        if business not in self._tokens:
            if business is None:
                response = self.http.post(
                    self.url("oauth2/token/"),
                    auth=(self.partner_uuid, self.api_key),
                    data={"grant_type": "client_credentials"},
                    timeout=10,
                )
            else:
                response = self.http.post(
                    self.url(f"{business}/oauth2/token/"),
                    headers={"Authorization": f"Bearer {self.token()}"},
                    timeout=10,
                )
            response.raise_for_status()
            self._tokens[business] = response.json()["access_token"]
        return self._tokens[business]

    def forget_tokens(self) -> None:
        self._tokens.clear()

    def request(
        self,
        method: str,
        path: str,
        json: Any = None,
        *,
        business: str | None = None,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
    ) -> requests.Response:
        """``method`` on ``/v1/platform/<path>`` with a bearer token (``token`` wins)."""
        all_headers = {"Authorization": f"Bearer {token or self.token(business)}"}
        all_headers.update(headers or {})
        return self.http.request(
            method, self.url(path), json=json, headers=all_headers, params=params, timeout=10
        )

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, json: Any = None, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, json, **kwargs)

    def create_business(self, **fields: Any) -> dict[str, Any]:
        body = {
            "external_id": "biz-1",
            "legal_name": "Acme Trading Ltd",
            "entity_type": "limited",
            "email": "owner@acme.example",
            "country": "GB",
            "base_currency": "GBP",
            **fields,
        }
        response = self.post("businesses/", body)
        response.raise_for_status()
        return response.json()

    def for_business(self, business_id: str) -> BusinessApiSession:
        """Requests under ``businesses/<id>/`` with that business's token."""
        return BusinessApiSession(self, business_id)


class BusinessApiSession:
    """``api.for_business(id).post("customers/", {...})`` → ``requests.Response``."""

    def __init__(self, api: FakeApiSession, business_id: str):
        self.api, self.business_id = api, business_id

    def request(self, method: str, path: str, json: Any = None, **kwargs: Any):
        kwargs.setdefault("business", self.business_id)
        return self.api.request(method, f"businesses/{self.business_id}/{path}", json, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, json: Any = None, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, json, **kwargs)

    def put(self, path: str, json: Any = None, **kwargs: Any) -> requests.Response:
        return self.request("PUT", path, json, **kwargs)

    def patch(self, path: str, json: Any = None, **kwargs: Any) -> requests.Response:
        return self.request("PATCH", path, json, **kwargs)

    def created(self, path: str, json: Any) -> dict[str, Any]:
        """POST and insist on 201; the JSON body (unwrapping ``{"payment": ...}``)."""
        response = self.post(path, json)
        if response.status_code != 201:
            raise AssertionError(f"POST {path}: {response.status_code} {response.text}")
        body = response.json()
        return body.get("payment", body) if isinstance(body.get("payment"), dict) else body
