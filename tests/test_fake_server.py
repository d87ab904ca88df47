"""The fake over real HTTP: keep-alive, dropped connections, control endpoints, entry points."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests
from django.core.management import CommandError, call_command

from thredfi_django.testing import FakeThredfi
from thredfi_django.testing.server import FakeServer
from thredfi_django.testing.session import FakeApiSession

PARTNER, KEY = "5d1e6f4a-0000-4a4a-9b9b-000000000042", "server-test-key"
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def fake():
    fake = FakeThredfi()
    fake.add_partner(PARTNER, KEY)
    return fake


@pytest.fixture
def server(fake):
    with fake.serve("127.0.0.1", port=0) as server:
        yield server


@pytest.fixture
def api(server):
    return FakeApiSession(server.url, PARTNER, KEY)


def test_a_whole_flow_over_http_on_one_keep_alive_connection(server, api, fake):
    acme = api.for_business(api.create_business()["id"])
    customer = acme.created("customers/", {"external_id": "c-1", "company_name": "Globex"})
    invoice = acme.created(
        "invoices/",
        {
            "external_id": "i-1",
            "customer_id": customer["id"],
            "line_items": [{"quantity": 1, "unit_price_cents": 500}],
        },
    )
    listed = acme.get("invoices/").json()

    assert server.url.startswith("http://127.0.0.1:")
    assert listed["results"][0]["id"] == invoice["id"]
    assert server.connections == 1  # HTTP/1.1 keep-alive: every request reused the connection
    assert fake.stats.total_requests == 6


def test_next_links_point_at_the_server(server, api, fake):
    fake.pagination_style = "next"
    api.create_business(external_id="a")
    api.create_business(external_id="b")

    body = api.get("businesses/", params={"page_size": 1}).json()

    assert body["next"].startswith(server.url + "/v1/platform/businesses/")
    assert api.http.get(body["next"], headers={"Authorization": f"Bearer {api.token()}"}).ok


def test_a_dropped_connection_gets_no_answer_but_the_write_is_kept(server, api, fake):
    acme = api.for_business(api.create_business()["id"])
    fake.fail_next(status="drop", path_contains="/customers/")

    with pytest.raises(requests.exceptions.ConnectionError):
        acme.post("customers/", {"external_id": "c-1", "company_name": "Globex"})
    retried = acme.post("customers/", {"external_id": "c-1", "company_name": "Globex"})

    assert retried.status_code == 200
    assert fake.count_by_external_id("customers") == {"c-1": 1}


def test_chunked_request_bodies_are_read(server, api, fake):
    acme_id = api.create_business()["id"]
    chunks = iter([b'{"external_id": "c-1", ', b'"company_name": "Chunked Ltd"}'])

    response = requests.post(  # a generator body goes out with Transfer-Encoding: chunked
        api.url(f"businesses/{acme_id}/customers/"), data=chunks,
        headers={"Authorization": f"Bearer {api.token()}", "Content-Type": "application/json"},
    )  # fmt: skip

    assert response.status_code == 201
    assert response.json()["company_name"] == "Chunked Ltd"


def test_concurrent_clients_each_get_their_own_record(server, api, fake):
    acme_id = api.create_business()["id"]
    token = api.token(acme_id)
    url = api.url(f"businesses/{acme_id}/customers/")
    statuses = []

    def create(n):
        body = {"external_id": f"c-{n % 10}", "individual_name": "X"}
        statuses.append(requests.post(url, json=body, headers={"Authorization": f"Bearer {token}"},
                                      timeout=10).status_code)  # fmt: skip

    threads = [threading.Thread(target=create, args=(n,)) for n in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(statuses) == [200] * 30 + [201] * 10
    assert set(fake.count_by_external_id("customers").values()) == {1}


def test_control_endpoints(server, api, fake):
    control = server.url + "/__fake__/"
    acme = api.for_business(api.create_business()["id"])
    acme.created("customers/", {"external_id": "c-1", "company_name": "Globex"})

    stats = requests.get(control + "stats").json()
    records = requests.get(control + "records/customers",
                           params={"business_id": acme.business_id}).json()  # fmt: skip
    faults = requests.post(control + "faults", json={"rate_limit_rate": 1.0, "retry_after": 3})
    limited = acme.get("customers/")
    requests.post(control + "faults", json={})
    requests.post(control + "expire-tokens", json={})
    expired = acme.get("customers/")
    config = requests.post(control + "config", json={"pagination_style": "next"}).json()
    bad = requests.post(control + "faults", json={"server_error_rate": 7})
    reset = requests.post(control + "reset", json={})

    assert stats["requests"]["POST /v1/platform/businesses/{business_id}/customers/"] == 1
    assert [r["external_id"] for r in records] == ["c-1"]
    assert faults.json()["rate_limit_rate"] == 1.0
    assert (limited.status_code, limited.headers["Retry-After"]) == (429, "3")
    assert expired.status_code == 401
    assert config["pagination_style"] == "next"
    assert bad.status_code == 400
    assert reset.status_code == 200
    assert fake.records("customers") == []
    assert requests.get(control + "stats").json()["total_requests"] == 0


def test_a_web_page_cannot_reset_a_running_fake(server, fake):
    """A cross-site form or fetch can POST text/plain without a preflight: it is refused."""
    fake.add_business(PARTNER)
    control = server.url + "/__fake__/"
    as_form = requests.post(control + "reset", data="{}", headers={"Content-Type": "text/plain"})
    bare = requests.post(control + "reset")
    assert (as_form.status_code, bare.status_code) == (415, 415)
    assert "application/json" in as_form.json()["message"]
    assert fake.records("businesses"), "nothing was reset"


def test_control_requests_come_from_loopback_or_carry_the_token(fake):
    from thredfi_django.testing.control import CONTROL_HEADER

    status, _, _ = fake.handle("POST", "/__fake__/reset", {"Content-Type": "application/json"},
                               b"{}", client_host="10.1.2.3")  # fmt: skip
    assert status == 403
    remote = FakeServer(fake, "127.0.0.1", 0, allow_remote=True).start()
    try:
        url = remote.url + "/__fake__/reset"
        refused = requests.post(url, json={})
        accepted = requests.post(url, json={}, headers={CONTROL_HEADER: remote.control_token})
    finally:
        remote.stop()
    assert (refused.status_code, accepted.status_code) == (403, 200)


def test_non_loopback_hosts_are_refused(fake):
    with pytest.raises(ValueError, match="loopback"):
        fake.serve("10.1.2.3", port=0)


def _start(args, env=None):
    """Start a server process; its URL from the "listening on" line (30 s deadline)."""
    process = subprocess.Popen(
        args, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, **(env or {})},
    )  # fmt: skip
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(
        target=lambda: [lines.put(line) for line in process.stdout], daemon=True
    ).start()
    seen, deadline = [], time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            if process.poll() is not None:
                break
            continue
        if "listening on" in line:  # "Fake Thredfi listening on http://127.0.0.1:PORT ..."
            return process, line.split("listening on ")[1].split()[0]
        seen.append(line)
    process.kill()
    pytest.fail("server did not start: " + "".join(seen))


def _stop(process):
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()


def test_module_entry_point_serves_until_sigterm():
    process, url = _start([sys.executable, "-m", "thredfi_django.testing.server", "--port", "0",
                           "--partner-uuid", PARTNER, "--api-key", KEY])  # fmt: skip
    try:
        token = FakeApiSession(url, PARTNER, KEY).token()
    finally:
        code = _stop(process)

    assert token
    assert code == 0


def test_management_command_defaults_credentials_from_settings(settings):
    process, url = _start(
        [sys.executable, "-m", "django", "thredfi_fake_server", "--port", "0"],
        env={"DJANGO_SETTINGS_MODULE": "tests.settings"},
    )
    try:
        api = FakeApiSession(url, settings.THREDFI["PARTNER_UUID"], settings.THREDFI["API_KEY"])
        created = api.create_business()
    finally:
        code = _stop(process)

    assert created["_meta"] == {"created": True}
    assert code == 0


def test_management_command_refuses_a_remote_host_without_allow_remote():
    with pytest.raises(CommandError, match="loopback"):
        call_command("thredfi_fake_server", "--host", "10.1.2.3", "--port", "0")


def test_thredfi_fake_server_fixture_points_settings_at_the_server(thredfi_fake_server, settings):
    from thredfi_django.conf import thredfi_settings

    api = FakeApiSession(
        thredfi_settings.base_url, settings.THREDFI["PARTNER_UUID"], settings.THREDFI["API_KEY"]
    )

    assert thredfi_settings.base_url == thredfi_fake_server.url
    assert api.create_business()["id"] == thredfi_fake_server.records("businesses")[0]["id"]


def test_stop_releases_the_port_and_hangs_up_on_kept_alive_connections(fake):
    server = fake.serve("127.0.0.1", port=0)
    session = requests.Session()
    assert session.get(server.url + "/__fake__/stats", timeout=5).ok  # a pooled connection

    server.stop()

    with pytest.raises(requests.exceptions.ConnectionError):
        session.get(server.url + "/__fake__/stats", timeout=5)
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(server.url + "/__fake__/stats", timeout=5)
