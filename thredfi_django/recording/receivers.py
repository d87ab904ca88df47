"""Receivers: they only record the change; the engine does the rest.

A synced object's save has already marked its own row (``thredfi_dirty``, set by the mixin's
``save()``): its receiver only asks for a drain after commit, which takes the marker in. A
delete records a sync-state row (the host row is gone), and a line's save or delete marks its
parent's row.

Connected in ``ThredfiDjangoConfig.ready()`` for every concrete model that uses a mixin, with an
explicit ``sender=`` and ``dispatch_uid``. Fixture loading (``raw=True``) is not recorded:
Django asks receivers not to touch other tables then; run ``manage.py thredfi_sync`` afterwards.
"""

from __future__ import annotations

from django.apps import apps
from django.db.models.signals import post_delete, post_save

from ..mixins import ThredfiChildMixin, ThredfiSyncMixin
from ..models import SyncOperation
from .changes import mark_dirty, mark_parent_dirty
from .wake import request_drain


def _untracked(instance, update_fields) -> bool:
    return bool(update_fields) and set(update_fields) <= set(instance.thredfi_untracked_fields)


def record_save(sender, instance, raw=False, update_fields=None, using=None, **kwargs):
    if not raw and not _untracked(instance, update_fields):
        request_drain(using=using)


def record_delete(sender, instance, **kwargs):
    mark_dirty(instance, SyncOperation.DELETE)


def record_child_change(sender, instance, raw=False, **kwargs):
    if not raw:
        mark_parent_dirty(instance)


def connect_all() -> None:
    """Connect the receivers to every installed model that uses a Thredfi mixin."""
    for model in apps.get_models():
        if model._meta.abstract or model._meta.proxy:
            continue
        label = model._meta.label_lower
        if issubclass(model, ThredfiSyncMixin):
            post_save.connect(record_save, sender=model, dispatch_uid=f"thredfi:{label}:save")
            post_delete.connect(record_delete, sender=model, dispatch_uid=f"thredfi:{label}:delete")
        elif issubclass(model, ThredfiChildMixin):
            for signal, name in ((post_save, "save"), (post_delete, "delete")):
                signal.connect(
                    record_child_change, sender=model, dispatch_uid=f"thredfi:{label}:{name}"
                )
