"""How many sync-state rows stand in each status, per model, at a cost that does not grow with
the table.

Rows that still need something (every status but synced) are a few per cent of a large table and
are counted exactly, from a partial index that holds only them. Synced rows are the bulk: once the
table holds more than ``EXACT_COUNT_LIMIT`` rows (PostgreSQL), a model's synced rows are the
planner's estimate of its rows less its exact unsynced ones, and the counts say so (``estimated``).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.contenttypes.models import ContentType
from django.db.models import Count, Exists, OuterRef

from .conf import thredfi_settings
from .models import NOT_SYNCED, SyncState, SyncStatus
from .sql import estimated_count


@dataclass
class StatusCounts:
    """``by_model``: content type id -> status -> rows. ``estimated``: the synced figures are
    the database's estimate, not a count."""

    by_model: dict[int, dict[str, int]]
    estimated: bool = False


def status_counts() -> StatusCounts:
    """Rows per model and status: two queries, or one plus one ``EXPLAIN`` per model."""
    by_model: dict[int, dict[str, int]] = {}
    unsynced = SyncState.objects.filter(NOT_SYNCED).values("content_type_id", "status")
    for row in unsynced.annotate(n=Count("*")).order_by():
        by_model.setdefault(row["content_type_id"], {})[row["status"]] = row["n"]
    size = estimated_count(SyncState.objects.all())
    if size is None or size <= int(thredfi_settings.EXACT_COUNT_LIMIT):
        synced = SyncState.objects.filter(status=SyncStatus.SYNCED).values("content_type_id")
        for row in synced.annotate(n=Count("*")).order_by():
            by_model.setdefault(row["content_type_id"], {})[SyncStatus.SYNCED] = row["n"]
        return StatusCounts(by_model)
    for content_type_id in content_types_with_rows():
        counts = by_model.setdefault(content_type_id, {})
        rows = estimated_count(SyncState.objects.filter(content_type_id=content_type_id)) or 0
        counts[SyncStatus.SYNCED] = max(rows - sum(counts.values()), 0)
    return StatusCounts(by_model, estimated=True)


def content_types_with_rows() -> list[int]:
    """The content types that have sync-state rows: one index probe per content type, where
    ``SELECT DISTINCT content_type_id`` would read the whole table."""
    has_rows = Exists(SyncState.objects.filter(content_type_id=OuterRef("pk")))
    return list(ContentType.objects.filter(has_rows).values_list("pk", flat=True).order_by("pk"))
