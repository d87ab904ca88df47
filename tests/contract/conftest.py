"""Where the contract stories run: the fake in-process, the fake over HTTP, and the real
sandbox when ``THREDFI_CONTRACT_BASE_URL``, ``THREDFI_CONTRACT_PARTNER_UUID`` and
``THREDFI_CONTRACT_API_KEY`` are set (never in CI here: nothing sets them).

``THREDFI_CONTRACT_LINE_SCHEMA`` ("guide" or "reference", default: THREDFI['LINE_SCHEMA'])
picks the line schema the stories send, so one sandbox run per schema settles which one the
server reads (README, "Invoice and bill lines").
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass

import pytest

from tests.fixtures import loopback_only
from thredfi_django.client import BusinessScope, ThredfiClient
from thredfi_django.conf import thredfi_settings

SANDBOX_ENV = ("THREDFI_CONTRACT_BASE_URL", "THREDFI_CONTRACT_PARTNER_UUID",
               "THREDFI_CONTRACT_API_KEY")  # fmt: skip


@dataclass
class Target:
    """One server under contract: a client for it and what the stories need to know."""

    name: str
    client: ThredfiClient
    line_schema: str
    run: str  # makes external_ids unique per run (the sandbox keeps what earlier runs made)

    def external_id(self, what: str) -> str:
        return f"contract:{self.run}:{what}"

    def business_body(self, what: str = "business") -> dict:
        return {
            "external_id": self.external_id(what),
            "legal_name": f"Contract {what} Ltd",
            "entity_type": "limited",
            "email": "contract@example.com",
            "country": "GB",
            "base_currency": "GBP",
        }

    def new_business(self, what: str = "business") -> BusinessScope:
        return self.client.business(self.client.businesses.create(self.business_body(what))["id"])


def _line_schema() -> str:
    return os.environ.get("THREDFI_CONTRACT_LINE_SCHEMA") or thredfi_settings.LINE_SCHEMA


@pytest.fixture(params=["in_process", "http", "sandbox"])
def target(request, settings, monkeypatch):
    partner, key = settings.THREDFI["PARTNER_UUID"], settings.THREDFI["API_KEY"]
    run = uuid.uuid4().hex[:10]
    if request.param == "sandbox":
        missing = [name for name in SANDBOX_ENV if not os.environ.get(name)]
        if missing:
            pytest.skip(f"the sandbox run needs {', '.join(missing)}")
        # The one place the suite may leave 127.0.0.1: a run someone asked for explicitly.
        monkeypatch.setattr(socket, "getaddrinfo", loopback_only._real_getaddrinfo)
        monkeypatch.setattr(socket.socket, "connect", loopback_only._real_connect)
        monkeypatch.setattr(socket.socket, "connect_ex", loopback_only._real_connect_ex)
        client = ThredfiClient(
            os.environ["THREDFI_CONTRACT_PARTNER_UUID"],
            os.environ["THREDFI_CONTRACT_API_KEY"],
            os.environ["THREDFI_CONTRACT_BASE_URL"],
        )
        yield Target("sandbox", client, _line_schema(), run)
        client.close()
        return
    fixture = "thredfi_fake" if request.param == "in_process" else "thredfi_fake_server"
    fake = request.getfixturevalue(fixture)
    fake.line_schema = _line_schema()
    base_url = fake.base_url if request.param == "in_process" else fake.url
    client = ThredfiClient(partner, key, base_url)
    yield Target(request.param, client, fake.line_schema, run)
    client.close()
