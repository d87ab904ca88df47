"""Retrying a row whose last push failed local validation: check the object again first.

Local validation is deterministic: an object that failed it and has not changed fails it again,
and each retry would only store the same failure once more. So "Retry" and "Sync now" run
``validate_for_thredfi()`` on such objects (no HTTP) and queue only those that pass now, because
the object, its lines or the validation code changed; the rest stay put, and the operator is
told what must change.
"""

from __future__ import annotations

from django.contrib.contenttypes.models import ContentType
from django.db.models import QuerySet
from django.utils.translation import ngettext

from ..exceptions import ThredfiLocalValidationError
from ..models import SyncState, SyncStatus

#: ``last_error_kind`` of a push refused by ``validate_for_thredfi()``.
LOCAL_VALIDATION = ThredfiLocalValidationError.kind
#: How many held-back objects a message names.
NAMED_IN_MESSAGE = 5

HeldBack = list[tuple[SyncState, dict]]


def hold_back_still_invalid(states: QuerySet[SyncState]) -> tuple[QuerySet[SyncState], HeldBack]:
    """Split ``states`` into rows worth queueing and rows whose object still fails the local
    validation that stopped its last push, each with the field errors it fails with now."""
    suspects = states.filter(
        last_error_kind=LOCAL_VALIDATION,
        status__in=(SyncStatus.FAILED, SyncStatus.NEEDS_ATTENTION),
    )
    by_model: dict[int, list[SyncState]] = {}
    for state in suspects:
        by_model.setdefault(state.content_type_id, []).append(state)
    held: HeldBack = []
    for content_type_id, rows in by_model.items():
        model = ContentType.objects.get_for_id(content_type_id).model_class()
        if model is None or not hasattr(model, "validate_for_thredfi"):
            continue
        found = model.get_thredfi_queryset().in_bulk([row.object_id for row in rows])
        objects = {str(pk): obj for pk, obj in found.items()}
        for row in rows:
            obj = objects.get(row.object_id)
            if obj is None:  # deleted since: the retry pushes the deletion
                continue
            try:
                obj.validate_for_thredfi()
            except ThredfiLocalValidationError as err:
                held.append((row, err.field_errors or {"": [err.message]}))
    if not held:
        return states, held
    return states.exclude(pk__in=[row.pk for row, _errors in held]), held


def held_back_message(held: HeldBack) -> str:
    """What the operator must change before a retry can succeed, naming the first few."""
    named = []
    for state, errors in held[:NAMED_IN_MESSAGE]:
        fields = " ".join(
            f"{field}: {' '.join(map(str, messages))}" if field else " ".join(map(str, messages))
            for field, messages in errors.items()
        )
        named.append(f"{state.label or state.object_id}: {fields}")
    more = len(held) - len(named)
    text = ngettext(
        "Not queued: %(count)d object still fails Thredfi's checks, so a retry would fail the "
        "same way. Fix it and save it (the save queues it): %(list)s",
        "Not queued: %(count)d objects still fail Thredfi's checks, so a retry would fail the "
        "same way. Fix them and save them (the save queues them): %(list)s",
        len(held),
    ) % {"count": len(held), "list": " | ".join(named)}
    if more:
        text += ngettext(" … and %(more)d more.", " … and %(more)d more.", more) % {"more": more}
    return text
