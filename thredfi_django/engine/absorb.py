"""Taking saves in: the change markers saves leave on their own rows become sync-state rows.

A synced object's ``save()`` writes a random token into the row's ``thredfi_dirty`` column, in
the same statement as the save (see ``ThredfiSyncMixin.save``): it costs the host nothing
extra, and it commits or rolls back with the row by construction. :func:`absorb` (called by
every drain, by the sweep and by the commands) turns marked rows into pending sync-state rows,
in bulk: per model, one transaction that records them (``recording.changes.record_many``) and
clears their markers by compare-and-set on the token, so a save that arrived meanwhile keeps
its marker and is taken in again (at worst one extra push of the same data, never a lost one).
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.db import connections, router, transaction
from django.db.models import Model

from ..mixins.base import ThredfiSyncMixin
from ..models import SyncState, state_db_for
from ..recording.changes import record_many
from ..sql import features, update_rows


def synced_models() -> list[type[ThredfiSyncMixin]]:
    """Every installed concrete model with a change marker; businesses first, so their objects
    absorbed in the same call find their business row (the push fills it in otherwise)."""
    found = [
        model
        for model in apps.get_models()
        if issubclass(model, ThredfiSyncMixin) and not model._meta.proxy
    ]
    return sorted(found, key=lambda model: model.thredfi_resource != "business")


def absorb(limit: int = 500, loaded: dict | None = None) -> int:
    """Absorb up to ``limit`` marked rows of every synced model. Returns how many.

    ``loaded``, a dict, receives the objects absorbed, keyed ``(content type id, str(pk))``,
    as ``get_thredfi_queryset()`` loads them less its prefetches: a drain pushes them next and
    need not load them again (a save that lands in between leaves a new marker, so it is
    pushed once more, as any save during a push is)."""
    return len(absorb_states(limit, loaded))


def absorb_all(chunk: int = 2000) -> int:
    """Absorb every marked row (in rounds of ``chunk`` per model): for commands that report or
    select by sync state and must count saves the drain has not taken in yet."""
    total = 0
    while absorbed := absorb(chunk):
        total += absorbed
    return total


def absorb_states(limit: int = 500, loaded: dict | None = None) -> list[tuple[int, bool]]:
    """:func:`absorb`, returning (state id, whether it just became pending) per row: a row
    that became pending needs a task (per-object dispatch) or a drain to be pushed."""
    absorbed: list[tuple[int, bool]] = []
    for model in marked_models(synced_models()):
        absorbed += _absorb_model(model, limit, loaded=loaded)
    return absorbed


def marked_models(models: list[type[Model]]) -> list[type[Model]]:
    """Those of ``models`` with at least one marked row, in their order: one query per
    database (``SELECT i WHERE EXISTS (…) UNION ALL …``, each EXISTS on the marker's index)
    instead of one per model, which a drain would otherwise pay for every synced model on
    every batch."""
    by_db: dict[str, list[tuple[int, type[Model]]]] = {}
    for index, model in enumerate(models):
        by_db.setdefault(router.db_for_write(model) or "default", []).append((index, model))
    found: set[int] = set()
    for using, entries in by_db.items():
        connection = connections[using]
        qn = connection.ops.quote_name
        # Only quoted identifiers from _meta and our own integers are interpolated.
        sql = " UNION ALL ".join(
            f"SELECT {index} WHERE EXISTS (SELECT 1 FROM {qn(model._meta.db_table)} "  # noqa: S608
            f"WHERE {qn(model._meta.get_field('thredfi_dirty').column)} IS NOT NULL)"
            for index, model in entries
        )
        with connection.cursor() as cursor:
            cursor.execute(sql)
            found.update(row[0] for row in cursor.fetchall())
    return [model for index, model in enumerate(models) if index in found]


def absorb_object(model: type[Model], pk: Any) -> bool:
    """Absorb one object if its row is marked (one SELECT when it is not). Returns whether it
    was."""
    return bool(_absorb_model(model, 1, pks=[pk]))


def absorb_queryset(queryset) -> int:
    """Absorb the marked rows among ``queryset`` (e.g. the objects an admin action selected)."""
    pks = list(queryset.filter(thredfi_dirty__isnull=False).values_list("pk", flat=True))
    return len(_absorb_model(queryset.model, len(pks), pks=pks)) if pks else 0


def _absorb_model(
    model, limit: int, pks: list | None = None, loaded: dict | None = None
) -> list[tuple[int, bool]]:
    """Absorb up to ``limit`` marked rows of ``model`` (of ``pks`` only, when given). Callers
    without ``pks`` have checked with :func:`marked_models` that there are some."""
    host_db = router.db_for_write(model) or "default"
    state_db = state_db_for(model)
    with ExitStack() as stack:
        # One transaction (one on each database if the sync-state table lives elsewhere).
        stack.enter_context(transaction.atomic(using=host_db))
        if state_db != host_db:
            stack.enter_context(transaction.atomic(using=state_db))
        marked = _take_marked(model, host_db, limit, pks)
        if not marked:
            return []
        objects, hidden = _load(model, host_db, list(marked))
        recorded = record_many(objects + hidden)
        _clear_markers(model, host_db, [(obj.pk, marked[obj.pk]) for obj in objects + hidden])
    if loaded is not None and objects:
        content_type_id = ContentType.objects.get_for_model(model).pk
        loaded.update({(content_type_id, str(obj.pk)): obj for obj in objects})
    return recorded


def _take_marked(model, using: str, limit: int, pks: list | None) -> dict[Any, int]:
    """{pk: token} of up to ``limit`` marked rows. On PostgreSQL the rows are locked for this
    transaction and rows another transaction holds are skipped: two drains never absorb the
    same row at once, and a host transaction still writing a row never stalls a drain."""
    qs = model._base_manager.using(using).filter(thredfi_dirty__isnull=False)
    if pks is not None:
        # Asked for these objects: wait for a drain taking them in right now, so that what
        # we return next counts their save (skipping them would report "never recorded").
        qs = qs.filter(pk__in=pks).select_for_update()
    elif features(connections[using]).skip_locked:
        qs = qs.select_for_update(skip_locked=True)
    return dict(qs.values_list("pk", "thredfi_dirty")[:limit])


def _load(model, using: str, pks: list) -> tuple[list[Model], list[Model]]:
    """The objects as the engine loads them (related rows their label and business key read
    in one query each); lines are not needed for that. Rows the host's queryset hides are
    loaded plainly, second in the pair: their changes are recorded all the same."""
    qs = model.get_thredfi_queryset().using(using).prefetch_related(None)
    objects = list(qs.filter(pk__in=pks))
    missing = set(pks) - {obj.pk for obj in objects}
    hidden = list(model._base_manager.using(using).filter(pk__in=missing)) if missing else []
    return objects, hidden


def _clear_markers(model, using: str, rows: list[tuple[Any, int]]) -> None:
    """``UPDATE … SET thredfi_dirty = NULL WHERE pk = p AND thredfi_dirty = t`` for each
    (p, t), in one statement (sql.update_rows): compare-and-set, so a marker a newer
    save wrote is kept."""
    if not rows:
        return
    connection = connections[using]
    pk_field = model._meta.pk
    marker = model._meta.get_field("thredfi_dirty")
    update_rows(
        connection,
        model._meta.db_table,
        set_sql=f"{connection.ops.quote_name(marker.column)} = NULL",
        columns=[("pk", pk_field), ("token", marker)],
        match=[(pk_field.column, "pk"), (marker.column, "token")],
        rows=rows,
    )


def state_for(instance: Model) -> SyncState | None:
    """The sync-state row of a host object with its latest save counted (taken in first, with
    its business's, so the row links to it), or None if it was never recorded. Writes: for
    the engine and the commands; pages read ``SyncState.objects.for_object``."""
    if instance.pk is None:
        return None
    if hasattr(type(instance), "thredfi_dirty"):
        getter = getattr(instance, "get_thredfi_business_key", None)
        business_key = getter() if getter else None
        if business_key is not None:
            business = ContentType.objects.get_for_id(business_key[0]).model_class()
            absorb_object(business, business_key[1])
        absorb_object(type(instance), instance.pk)
    return SyncState.objects.for_object(instance)
