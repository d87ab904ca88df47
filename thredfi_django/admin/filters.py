"""List filters: the host changelists' sync status, and the outbox's host model, business and age
of the last change."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib import admin
from django.contrib.contenttypes.models import ContentType
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ..counts import content_types_with_rows
from ..models import SyncState, SyncStatus
from .annotations import STATUS_ANNOTATION, annotate_sync_state
from .display import NEVER_SYNCED, NEVER_SYNCED_LABEL

#: Statuses "Retry failed" picks up: the ones a person is expected to look at.
FAILED_STATUSES = (SyncStatus.FAILED, SyncStatus.NEEDS_ATTENTION)

#: Filter value for "failed or needs attention".
PROBLEMS = "problems"


class RemoteStaleListFilter(admin.SimpleListFilter):
    """Synced rows whose later changes Thredfi could not take (``SyncState.remote_stale``)."""

    title = _("outdated in Thredfi")
    parameter_name = "outdated"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("yes", _("Yes"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        return queryset.filter(remote_stale=True) if self.value() == "yes" else queryset


class AgeListFilter(admin.SimpleListFilter):
    """How long ago the row last changed (a save, an attempt, a retry)."""

    title = _("last change")
    parameter_name = "age"

    #: value -> (label, newer than, older than)
    ranges = {
        "1h": (_("Less than an hour ago"), timedelta(hours=1), None),
        "24h": (_("Less than 24 hours ago"), timedelta(hours=24), None),
        "older24h": (_("More than 24 hours ago"), None, timedelta(hours=24)),
        "older7d": (_("More than 7 days ago"), None, timedelta(days=7)),
    }

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [(key, label) for key, (label, _newer, _older) in self.ranges.items()]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() not in self.ranges:
            return queryset
        _label, newer, older = self.ranges[self.value()]
        now = timezone.now()
        if newer is not None:
            queryset = queryset.filter(updated_at__gte=now - newer)
        if older is not None:
            queryset = queryset.filter(updated_at__lt=now - older)
        return queryset


class ModelListFilter(admin.RelatedOnlyFieldListFilter):
    """The host model (content type) of the row, listing only models that have rows."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.title = _("model")

    def field_choices(self, field: Any, request: HttpRequest, model_admin: Any) -> list:
        # Not the parent's ``SELECT DISTINCT``, which reads every row of a large table.
        labelled = []
        for pk in content_types_with_rows():
            content_type = ContentType.objects.get_for_id(pk)
            model = content_type.model_class()
            name = model._meta.verbose_name_plural.capitalize() if model else content_type.model
            labelled.append((pk, name))
        return sorted(labelled, key=lambda choice: str(choice[1]))


class BusinessListFilter(admin.SimpleListFilter):
    """The business (its own sync-state row) an object belongs to."""

    title = _("business")
    parameter_name = "business"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        # Business rows that own any row: one index probe each, not a pass over the table.
        owns_rows = Exists(SyncState.objects.filter(business_id=OuterRef("pk")))
        businesses = SyncState.objects.filter(resource="business").filter(owns_rows)
        businesses = businesses.order_by("label", "pk")
        return [(str(b.pk), b.label or b.external_id or b.object_id) for b in businesses]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if value and value.isdigit():
            # The business's own row belongs to it too (whether or not it points at itself).
            return queryset.filter(Q(business_id=int(value)) | Q(pk=int(value)))
        return queryset


class ThredfiSyncStatusFilter(admin.SimpleListFilter):
    """Filter a host changelist by sync status; "Never synced" means no sync-state row."""

    title = _("Thredfi sync")
    parameter_name = "thredfi_status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [
            (PROBLEMS, _("Failed or needs attention")),
            *SyncStatus.choices,
            (NEVER_SYNCED, NEVER_SYNCED_LABEL),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if value is None:
            return queryset
        queryset = annotate_sync_state(queryset)
        if value == NEVER_SYNCED:
            return queryset.filter(**{f"{STATUS_ANNOTATION}__isnull": True})
        if value == PROBLEMS:
            return queryset.filter(**{f"{STATUS_ANNOTATION}__in": FAILED_STATUSES})
        if value in SyncStatus.values:
            return queryset.filter(**{STATUS_ANNOTATION: value})
        return queryset
