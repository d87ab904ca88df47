"""The sync dashboard: counts per model and status, the oldest pending row, recent failures
grouped by error code, and syncs per hour as an inline SVG bar chart (no JavaScript).

Every figure is one aggregate query that reads only rows needing something or recent history
(``counts.status_counts`` estimates the synced bulk of a large table), so the page costs about
the same whether the outbox holds ten thousand rows or ten million.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.contrib import admin
from django.contrib.contenttypes.models import ContentType
from django.db.models import Count, Max, Min, Q
from django.db.models.functions import TruncHour
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _

from ..counts import status_counts
from ..engine import pauses
from ..models import SyncAttempt, SyncState, SyncStatus
from .display import ADMIN_CSS, redact, status_badge

FAILURE_OUTCOMES = (SyncAttempt.Outcome.TRANSIENT_ERROR, SyncAttempt.Outcome.PERMANENT_ERROR)

#: The lag percentiles are of at most this many of the last hour's creates (the newest).
LAG_SAMPLE = 1000

#: Chart geometry (SVG user units).
CHART_HEIGHT = 120
BAR_WIDTH = 12
BAR_GAP = 3


@dataclass
class ChartBar:
    """One hour of the chart: counts and the bar geometry the template draws."""

    hour: datetime
    successes: int
    failures: int
    x: int = 0
    success_y: float = 0
    success_height: float = 0
    failure_y: float = 0
    failure_height: float = 0
    label: str = ""


@dataclass
class Lag:
    """Percentiles of the lag of the objects created in Thredfi in the last hour."""

    count: int
    p50: timedelta
    p99: timedelta
    #: How many of them the percentiles are of (the newest).
    sampled: int

    @property
    def p50_text(self) -> str:
        return _seconds(self.p50)

    @property
    def p99_text(self) -> str:
        return _seconds(self.p99)


def _seconds(delta: timedelta) -> str:
    seconds = delta.total_seconds()
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.0f} min"


def creation_lag(now: datetime, window: timedelta = timedelta(hours=1)) -> Lag | None:
    """How long new objects took to reach Thredfi: for each successful create that started in
    ``window``, from its sync-state row being recorded (the first save, once committed) to the
    create being answered. When a save waited is not stored; a create's row is recorded by that
    very save, so this is exact for new objects (updates are not measured). Percentiles of the
    newest LAG_SAMPLE creates, so the cost does not grow with the traffic; None: none."""
    creates = SyncAttempt.objects.filter(
        outcome=SyncAttempt.Outcome.SUCCESS,
        operation="create",
        started_at__gte=now - window,
        finished_at__isnull=False,
    )
    count = creates.count()
    if not count:
        return None
    newest = creates.order_by("-started_at").values_list("finished_at", "state__created_at")
    lags = sorted(finished - recorded for finished, recorded in newest[:LAG_SAMPLE])

    def percentile(fraction: float) -> timedelta:
        return lags[min(len(lags) - 1, max(0, math.ceil(fraction * len(lags)) - 1))]  # nearest rank

    return Lag(count=count, p50=percentile(0.5), p99=percentile(0.99), sampled=len(lags))


@dataclass
class DashboardData:
    """Everything the dashboard page shows (also handy for tests and JSON views)."""

    now: datetime
    statuses: list[tuple[str, str]]
    #: One row per model: {"model", "content_type_id", "counts": [(status, n)], "total"}
    by_model: list[dict[str, Any]]
    totals: dict[str, int]
    oldest_pending: datetime | None
    failures_24h: int
    attempts_24h: int
    #: [{"error_code", "count", "last_seen", "message"}] for the last 24 hours, largest first.
    errors_by_code: list[dict[str, Any]]
    chart: list[ChartBar] = field(default_factory=list)
    chart_hours: int = 48
    #: The synced counts are the database's estimate (a table above EXACT_COUNT_LIMIT rows).
    estimated: bool = False
    #: Lag of new objects created in Thredfi in the last hour (see :func:`creation_lag`).
    lag: Lag | None = None

    @property
    def oldest_pending_age(self) -> timedelta | None:
        return self.now - self.oldest_pending if self.oldest_pending else None

    @property
    def total(self) -> int:
        return sum(self.totals.values())

    @property
    def problems(self) -> int:
        return self.totals.get(SyncStatus.FAILED, 0) + self.totals.get(
            SyncStatus.NEEDS_ATTENTION, 0
        )

    @property
    def chart_width(self) -> int:
        return len(self.chart) * (BAR_WIDTH + BAR_GAP)

    @property
    def chart_max(self) -> int:
        return max((bar.successes + bar.failures for bar in self.chart), default=0)


def _model_name(content_type_id: int) -> str:
    content_type = ContentType.objects.get_for_id(content_type_id)  # cached after the first
    model = content_type.model_class()
    return str(model._meta.verbose_name_plural).capitalize() if model else content_type.model


def build_chart(rows: list[dict[str, Any]], now: datetime, hours: int) -> list[ChartBar]:
    """Hourly bars for the last ``hours`` hours from ``(hour, outcome, n)`` rows; hours with
    no attempts are drawn as empty bars so the time axis stays even."""
    current = now.replace(minute=0, second=0, microsecond=0)
    slots = [current - timedelta(hours=offset) for offset in range(hours - 1, -1, -1)]
    bars = {slot: ChartBar(hour=slot, successes=0, failures=0) for slot in slots}
    for row in rows:
        hour = row["hour"]
        if hour is None:
            continue
        hour = hour.astimezone(now.tzinfo).replace(minute=0, second=0, microsecond=0)
        bar = bars.get(hour)
        if bar is None:
            continue
        if row["outcome"] == SyncAttempt.Outcome.SUCCESS:
            bar.successes += row["n"]
        elif row["outcome"] in FAILURE_OUTCOMES:
            bar.failures += row["n"]
    peak = max((b.successes + b.failures for b in bars.values()), default=0) or 1
    chart = []
    for index, slot in enumerate(slots):
        bar = bars[slot]
        bar.x = index * (BAR_WIDTH + BAR_GAP)
        bar.success_height = round(CHART_HEIGHT * bar.successes / peak, 1)
        bar.failure_height = round(CHART_HEIGHT * bar.failures / peak, 1)
        bar.success_y = round(CHART_HEIGHT - bar.success_height, 1)
        bar.failure_y = round(bar.success_y - bar.failure_height, 1)
        bar.label = f"{slot:%Y-%m-%d %H}:00 UTC: {bar.successes} ok, {bar.failures} failed"
        chart.append(bar)
    return chart


def dashboard_data(*, now: datetime | None = None, chart_hours: int = 48) -> DashboardData:
    """Aggregate the outbox and its history (six queries, independent of the row count)."""
    now = now or timezone.now()
    since_24h = now - timedelta(hours=24)

    statuses = [(value, str(label)) for value, label in SyncStatus.choices]
    counts = status_counts()
    per_model = counts.by_model
    totals = {value: 0 for value, _label in statuses}
    for model_counts in per_model.values():
        for status, n in model_counts.items():
            totals[status] = totals.get(status, 0) + n
    by_model = sorted(
        (
            {
                "model": _model_name(ct_id),
                "content_type_id": ct_id,
                "counts": [(value, counts.get(value, 0)) for value, _label in statuses],
                "total": sum(counts.values()),
            }
            for ct_id, counts in per_model.items()
            if sum(counts.values())
        ),
        key=lambda row: row["model"],
    )

    # Waiting longest: the pending row that changed least recently.
    oldest_pending = SyncState.objects.filter(status=SyncStatus.PENDING).aggregate(
        oldest=Min("updated_at")
    )["oldest"]

    recent = SyncAttempt.objects.filter(started_at__gte=since_24h)
    counts_24h = recent.aggregate(
        attempts=Count("id"), failures=Count("id", filter=Q(outcome__in=FAILURE_OUTCOMES))
    )

    failures = recent.filter(outcome__in=FAILURE_OUTCOMES)
    errors_by_code = list(
        failures.values("error_code")
        .annotate(count=Count("id"), last_seen=Max("started_at"))
        .order_by("-count", "error_code")[:15]
    )
    # Each code's latest message: one query for all codes, where a subquery per code would run
    # once per failed attempt.
    latest = Q()
    for row in errors_by_code:
        latest |= Q(error_code=row["error_code"], started_at=row["last_seen"])
    messages = {}
    if errors_by_code:
        found = failures.filter(latest).order_by("id").values_list("error_code", "message")
        messages = dict(found)
    for row in errors_by_code:
        row["message"] = redact(messages.get(row["error_code"], ""))

    chart_rows = list(
        SyncAttempt.objects.filter(started_at__gte=now - timedelta(hours=chart_hours))
        .annotate(hour=TruncHour("started_at"))
        .values("hour", "outcome")
        .annotate(n=Count("id"))
        .order_by()
    )
    return DashboardData(
        now=now,
        statuses=statuses,
        by_model=by_model,
        totals=totals,
        oldest_pending=oldest_pending,
        failures_24h=counts_24h["failures"],
        attempts_24h=counts_24h["attempts"],
        errors_by_code=errors_by_code,
        chart=build_chart(chart_rows, now, chart_hours),
        chart_hours=chart_hours,
        estimated=counts.estimated,
        lag=creation_lag(now),
    )


class SyncDashboardAdmin(admin.ModelAdmin):
    """Shows the dashboard in place of a changelist. Needs ``view_syncstate``."""

    def get_urls(self) -> list[Any]:
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "",
                self.admin_site.admin_view(self.changelist_view),
                name="{}_{}_changelist".format(*info),
            )
        ]

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm("thredfi_django.view_syncstate")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        if not self.has_view_permission(request):
            from django.core.exceptions import PermissionDenied

            raise PermissionDenied
        data = dashboard_data()
        outbox_url = reverse(f"{self.admin_site.name}:thredfi_django_syncstate_changelist")

        def outbox_link(**params: Any) -> str:
            return f"{outbox_url}?{urlencode(params)}" if params else outbox_url

        rows = [
            {
                **row,
                "cells": [
                    (
                        n,
                        outbox_link(
                            content_type__id__exact=row["content_type_id"], status__exact=value
                        )
                        if n
                        else "",
                    )
                    for value, n in row["counts"]
                ],
                "link": outbox_link(content_type__id__exact=row["content_type_id"]),
            }
            for row in data.by_model
        ]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Thredfi sync dashboard"),
            "subtitle": None,
            "data": data,
            "rows": rows,
            "status_headers": [(value, status_badge(value)) for value, _label in data.statuses],
            "totals": [
                (data.totals.get(value, 0), outbox_link(status__exact=value))
                for value, _label in data.statuses
            ],
            "errors": [
                {**error, "link": outbox_link(last_error_code=error["error_code"])}
                for error in data.errors_by_code
            ],
            "outbox_url": outbox_url,
            "pauses": pauses.all_pauses(),
            "problems_url": outbox_link(status__exact=SyncStatus.FAILED),
            "attention_url": outbox_link(status__exact=SyncStatus.NEEDS_ATTENTION),
            "pending_url": outbox_link(status__exact=SyncStatus.PENDING),
            "chart_height": CHART_HEIGHT,
            "bar_width": BAR_WIDTH,
            "admin_css": ADMIN_CSS,
            **(extra_context or {}),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "thredfi_django/admin/dashboard.html", context)
