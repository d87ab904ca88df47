"""Prometheus metrics and OpenTelemetry spans of pushes and requests (thredfi_django.telemetry),
the scrape endpoint (thredfi_django.metrics), and both switched off without their packages."""

from __future__ import annotations

import subprocess
import sys

import pytest
from django.test import RequestFactory
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import REGISTRY

from tests.testapp.factories import make_invoice
from thredfi_django import telemetry
from thredfi_django.metrics import metrics_view

pytestmark = pytest.mark.django_db

SPANS = InMemorySpanExporter()
_provider = TracerProvider()
_provider.add_span_processor(SimpleSpanProcessor(SPANS))
trace.set_tracer_provider(_provider)  # once per process: OpenTelemetry refuses a second one


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_push_is_counted_by_resource_and_outcome_with_its_lag_requests_and_tokens(
    thredfi_fake, queue, committed
):
    before = {
        "invoices": sample("thredfi_pushes_total", resource="invoice", outcome="synced"),
        "lag": sample("thredfi_sync_lag_seconds_count", resource="invoice"),
        "creates": sample(
            "thredfi_request_seconds_count",
            method="POST",
            endpoint="/v1/platform/businesses/{id}/invoices/",
            status="201",
        ),
        "tokens": sample("thredfi_token_fetches_total", scope="business"),
    }
    with committed():
        make_invoice()
    queue.drain()

    assert sample("thredfi_pushes_total", resource="invoice", outcome="synced") == (
        before["invoices"] + 1
    )
    assert sample("thredfi_sync_lag_seconds_count", resource="invoice") == before["lag"] + 1
    creates = sample(
        "thredfi_request_seconds_count",
        method="POST",
        endpoint="/v1/platform/businesses/{id}/invoices/",
        status="201",
    )
    assert creates == before["creates"] + 1
    assert sample("thredfi_token_fetches_total", scope="business") > before["tokens"]


def test_a_transient_failure_is_counted_as_a_retry(thredfi_fake, queue, committed):
    before = sample("thredfi_pushes_total", resource="invoice", outcome="retry")
    thredfi_fake.fail_next(1, status=503, path_contains="/invoices/")
    with committed():
        make_invoice()
    queue.drain()

    assert sample("thredfi_pushes_total", resource="invoice", outcome="retry") == before + 1


def test_each_push_and_request_is_a_span(thredfi_fake, queue, committed):
    SPANS.clear()
    with committed():
        make_invoice()
    queue.drain()

    spans = {span.name: span for span in SPANS.get_finished_spans()}
    push = spans["thredfi push invoice"]
    assert push.attributes["thredfi.outcome"] == "synced"
    request = spans["thredfi POST /v1/platform/businesses/{id}/invoices/"]
    assert request.attributes["http.response.status_code"] == 201
    assert request.end_time >= request.start_time


def test_ids_in_paths_become_one_endpoint_label():
    path = "/v1/platform/businesses/0b9f7c7e-3c1a-4c55-9d0e-5f6a7b8c9d0e/invoices/42/?page=2"
    assert telemetry.endpoint(path) == "/v1/platform/businesses/{id}/invoices/{id}/"


def test_the_scrape_shows_the_rows_that_need_something(committed):
    with committed():
        make_invoice()

    response = metrics_view(RequestFactory().get("/thredfi/metrics/"))

    body = response.content.decode()
    assert response.status_code == 200
    assert 'thredfi_rows{status="pending"} 3.0' in body  # business, customer, invoice
    assert "thredfi_pushes_total" in body


def test_the_scrape_sums_every_process_of_a_prefork_pool(tmp_path, monkeypatch):
    child = (
        "from thredfi_django import telemetry; "
        "[telemetry.token_fetched('partner') for _ in range(3)]"
    )
    for _ in range(2):  # two worker processes, each with its own file
        subprocess.run(
            [sys.executable, "-c", child],
            check=True,
            env={"PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PYTHONPATH": "."},
        )
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))

    body = metrics_view(RequestFactory().get("/thredfi/metrics/")).content.decode()

    assert 'thredfi_token_fetches_total{scope="partner"} 6.0' in body


def test_without_the_packages_everything_imports_and_does_nothing():
    script = (
        "import sys; sys.modules['prometheus_client'] = None; "
        "sys.modules['opentelemetry'] = None\n"
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'tests.settings'; "
        "django.setup()\n"
        "from thredfi_django import telemetry, metrics\n"
        "from django.test import RequestFactory\n"
        "telemetry.token_fetched('partner'); telemetry.request_finished('GET', '/v1/', 200, 0.0)\n"
        "telemetry.push_finished('invoice', 'synced', seconds=0.1, state_id=1)\n"
        "response = metrics.metrics_view(RequestFactory().get('/'))\n"
        "print(response.status_code, response.content.decode())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": ".", "CELERY_BROKER_URL": "memory://", "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("501 prometheus-client is not installed")
