"""Host objects of synced models that have no sync-state row: created by ``bulk_create``, a raw
query or before thredfi_django was installed. Saves record themselves; these never did."""

from __future__ import annotations

from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.db.models import CharField, Exists, OuterRef, QuerySet
from django.db.models.functions import Cast

from thredfi_django.mixins import ThredfiSyncMixin
from thredfi_django.models import SyncState


def synced_models() -> list[type[ThredfiSyncMixin]]:
    """Every installed model synced with Thredfi (proxies share their concrete model's rows)."""
    return [m for m in apps.get_models() if issubclass(m, ThredfiSyncMixin) and not m._meta.proxy]


def untracked_objects(model: type[ThredfiSyncMixin]) -> QuerySet:
    """``model``'s rows that have no sync-state row, as one ``NOT EXISTS`` query."""
    content_type = ContentType.objects.get_for_model(model, for_concrete_model=False)
    # object_id is text; compare as text so PostgreSQL accepts int and uuid pks.
    tracked = SyncState.objects.filter(
        content_type=content_type, object_id=Cast(OuterRef("pk"), CharField())
    )
    return model._default_manager.filter(~Exists(tracked))


def untracked_counts() -> dict[str, int]:
    """``{"app.Model": n}`` of objects never recorded, for the models that have any."""
    counts = {model._meta.label: untracked_objects(model).count() for model in synced_models()}
    return {label: n for label, n in counts.items() if n}
