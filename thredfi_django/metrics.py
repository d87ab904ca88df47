"""The Prometheus scrape endpoint: ``path("thredfi/", include("thredfi_django.metrics"))``.

Serves the counters and histograms of :mod:`thredfi_django.telemetry` (summed over every process
of a prefork pool when ``PROMETHEUS_MULTIPROC_DIR`` is set) and, read at scrape time with one
query, the sync-state rows in each status but synced (those are the few that need something; the
synced bulk is left out so a scrape stays cheap on a table of millions). Metrics say how busy the
platform is: include these URLs where only your monitoring reaches them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.urls import path

from .models import NOT_SYNCED, SyncState
from .telemetry import prometheus_client

app_name = "thredfi_django_metrics"


class RowsByStatus:
    """A collector: sync-state rows per status, except synced, counted when scraped."""

    def collect(self) -> Iterator[Any]:
        gauge = prometheus_client.core.GaugeMetricFamily(
            "thredfi_rows",
            "Sync-state rows that are not synced, by status (read at scrape time).",
            labels=["status"],
        )
        rows = SyncState.objects.filter(NOT_SYNCED).values("status").annotate(n=Count("*"))
        for row in rows.order_by():
            gauge.add_metric([row["status"]], row["n"])
        yield gauge


def metrics_view(request: HttpRequest) -> HttpResponse:
    """Everything above in Prometheus' text format."""
    if prometheus_client is None:
        return HttpResponse(
            "prometheus-client is not installed: pip install 'thredfi-django[metrics]'",
            status=501,
            content_type="text/plain",
        )
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = prometheus_client.CollectorRegistry()
        prometheus_client.multiprocess.MultiProcessCollector(registry)
    else:
        registry = prometheus_client.REGISTRY
    rows = prometheus_client.CollectorRegistry()
    rows.register(RowsByStatus())
    body = prometheus_client.generate_latest(registry) + prometheus_client.generate_latest(rows)
    return HttpResponse(body, content_type=prometheus_client.CONTENT_TYPE_LATEST)


urlpatterns = [path("metrics/", metrics_view, name="metrics")]
