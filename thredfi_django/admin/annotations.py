"""What the host changelists read from the database besides the host's own columns: each row's
sync status and last error code, and the total of its line items. Each is one correlated
subquery annotated on the changelist's query, so a page costs no query per row."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import FieldDoesNotExist
from django.db import connections
from django.db.models import (
    Case,
    CharField,
    DecimalField,
    ExpressionWrapper,
    F,
    Model,
    OuterRef,
    QuerySet,
    Subquery,
    Sum,
    UUIDField,
    Value,
    When,
)
from django.db.models.functions import Cast, Replace
from django.utils.formats import number_format

from ..models import SyncState, SyncStatus

#: Names of the annotations added here (prefixed to avoid host fields).
STATUS_ANNOTATION = "_thredfi_status"
ERROR_CODE_ANNOTATION = "_thredfi_error_code"
AMOUNT_ANNOTATION = "_thredfi_amount"


def sync_states_of(queryset: QuerySet) -> QuerySet[SyncState]:
    """SyncState rows of ``queryset``'s model, correlated to the outer row's pk (for Subquery).

    ``object_id`` is a varchar holding ``str(pk)``; the pk is cast to text because PostgreSQL
    refuses varchar = integer. A UUID pk is compared without hyphens where the database stores
    UUIDs as 32 hex characters (SQLite, MySQL), so ``str(uuid)`` still matches there.
    """
    model = queryset.model
    content_type = ContentType.objects.db_manager(queryset.db).get_for_model(model)
    states = SyncState.objects.filter(content_type=content_type)
    outer_pk = Cast(OuterRef("pk"), output_field=CharField())
    pk_field = model._meta.pk
    target = getattr(pk_field, "target_field", pk_field)  # a OneToOne pk: the field it points to
    native_uuid = connections[queryset.db].features.has_native_uuid_field
    if isinstance(target, UUIDField) and not native_uuid:
        return states.annotate(_thredfi_hex_id=Replace("object_id", Value("-"), Value(""))).filter(
            _thredfi_hex_id=outer_pk
        )
    return states.filter(object_id=outer_pk)


def annotate_sync_state(queryset: QuerySet) -> QuerySet:
    """``queryset`` with its sync status and last error code as annotations, in the same query.

    Adds ``_thredfi_status`` (None when the object was never recorded) and
    ``_thredfi_error_code``.
    """
    if STATUS_ANNOTATION in queryset.query.annotations:
        return queryset
    states = sync_states_of(queryset)
    status: Any = Subquery(states.values("status")[:1])
    if has_change_marker(queryset.model):
        # Saved but not taken in by the engine yet (the row's own change marker): pending.
        status = Case(
            When(thredfi_dirty__isnull=False, then=Value(SyncStatus.PENDING.value)),
            default=status,
            output_field=CharField(),
        )
    return queryset.annotate(
        **{
            STATUS_ANNOTATION: status,
            ERROR_CODE_ANNOTATION: Subquery(states.values("last_error_code")[:1]),
        }
    )


def has_change_marker(model: type[Model]) -> bool:
    """Does ``model`` carry the ``thredfi_dirty`` change marker (a synced host model)?"""
    return any(f.name == "thredfi_dirty" for f in model._meta.concrete_fields)


def lines_total_expression(model: type[Model]) -> Subquery | None:
    """``SUM(quantity * unit_price)`` of ``model``'s line items per outer row, or None when the
    model has no lines or their quantity / unit price is not a plain field of the line model."""
    lines_name = getattr(model, "thredfi_lines_related_name", None)
    if not lines_name:
        return None
    try:
        relation = model._meta.get_field(lines_name)
    except FieldDoesNotExist:
        return None
    line_model = relation.related_model
    columns = []
    for remote in ("quantity", "unit_price"):
        source = line_model._thredfi_source(remote)
        try:
            field = line_model._meta.get_field(source or "")
        except FieldDoesNotExist:
            return None  # a property or a path: cannot be summed in SQL
        columns.append(field.name)
    quantity, price = columns
    product = ExpressionWrapper(
        F(quantity) * F(price), output_field=DecimalField(max_digits=30, decimal_places=6)
    )
    parent = relation.field.name
    totals = (
        line_model._default_manager.filter(**{parent: OuterRef("pk")})
        .order_by()
        .values(parent)
        .annotate(total=Sum(product))
        .values("total")
    )
    return Subquery(totals, output_field=DecimalField(max_digits=30, decimal_places=6))


def annotate_amount(queryset: QuerySet) -> QuerySet:
    """``queryset`` with ``_thredfi_amount`` (the lines' total) when its model has lines."""
    if AMOUNT_ANNOTATION in queryset.query.annotations:
        return queryset
    expression = lines_total_expression(queryset.model)
    if expression is None:
        return queryset
    return queryset.annotate(**{AMOUNT_ANNOTATION: expression})


def amount_text(obj: Any) -> str:
    """``GBP 71.00``: the annotated total in the object's currency; ``—`` without lines."""
    total = getattr(obj, AMOUNT_ANNOTATION, None)
    if total is None:
        return "—"
    currency = obj.get_thredfi_value("currency") or ""
    amount = number_format(Decimal(total).quantize(Decimal("0.01")), 2, force_grouping=True)
    return f"{currency} {amount}".strip()
