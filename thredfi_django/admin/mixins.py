"""``ThredfiSyncAdminMixin``: sync status, errors and "Sync now" on the host's own ModelAdmins.

    from django.contrib import admin
    from thredfi_django.admin import ThredfiSyncAdminMixin

    @admin.register(Invoice)
    class InvoiceAdmin(ThredfiSyncAdminMixin, admin.ModelAdmin):
        list_display = ["number", "customer", "total"]

The changelist gains a status badge column and a "Thredfi sync" filter, read from one correlated
subquery per column (no query per row). The change form gains a read-only "Thredfi" fieldset.
The actions "Sync now" and "Retry failed" only *queue* work (``outbox.request_sync``): no HTTP
happens in the web request. They need the ``thredfi_django.sync_objects`` permission and are
hidden without it.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.contenttypes.models import ContentType
from django.db import connections
from django.db.models import (
    Case,
    CharField,
    Model,
    OuterRef,
    QuerySet,
    Subquery,
    UUIDField,
    Value,
    When,
)
from django.db.models.functions import Cast, Replace
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from ..models import SyncState, SyncStatus
from .display import (
    ADMIN_CSS,
    NEVER_SYNCED,
    NEVER_SYNCED_LABEL,
    error_summary_html,
    status_badge,
    when,
)

#: The permission that allows "Sync now", "Retry" and "Mark resolved".
SYNC_PERMISSION = "thredfi_django.sync_objects"

#: Statuses "Retry failed" picks up: the ones a person is expected to look at.
FAILED_STATUSES = (SyncStatus.FAILED, SyncStatus.NEEDS_ATTENTION)

#: Filter value for "failed or needs attention".
PROBLEMS = "problems"

#: Names of the annotations :func:`annotate_sync_state` adds (prefixed to avoid host fields).
STATUS_ANNOTATION = "_thredfi_status"
ERROR_CODE_ANNOTATION = "_thredfi_error_code"


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
    if _has_marker(queryset.model):
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


def _has_marker(model: type[Model]) -> bool:
    return any(f.name == "thredfi_dirty" for f in model._meta.concrete_fields)


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


class ThredfiSyncAdminMixin:
    """Mix into a host ModelAdmin (before ``admin.ModelAdmin``) to show and drive Thredfi sync.

    Hooks and attributes a subclass may change:

    * ``thredfi_fieldset_title`` – the change form's fieldset title.
    * ``thredfi_actions`` – the actions added to the admin's own ``actions``.
    * :meth:`has_sync_permission` – who may sync or retry (default: the
      ``thredfi_django.sync_objects`` permission).
    """

    thredfi_fieldset_title = _("Thredfi")
    thredfi_actions: tuple[str, ...] = ("thredfi_sync_now", "thredfi_retry_failed")
    #: Read-only fields of the Thredfi fieldset (``thredfi_id`` is added when the model has it).
    thredfi_readonly_fields: tuple[str, ...] = (
        "thredfi_sync_status",
        "thredfi_external_id",
        "thredfi_attempts",
        "thredfi_last_error",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Append to (not replace) the host's own actions; ``actions = None`` still means none.
        if self.actions is not None:
            own = list(self.actions)
            self.actions = [*own, *(name for name in self.thredfi_actions if name not in own)]

    # -- permissions ---------------------------------------------------------------------------

    def has_sync_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        """May this user queue syncs and retries? (``thredfi_django.sync_objects``)"""
        return request.user.has_perm(SYNC_PERMISSION)

    # -- changelist ----------------------------------------------------------------------------

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return annotate_sync_state(super().get_queryset(request))

    def get_list_display(self, request: HttpRequest) -> list[Any]:
        columns = list(super().get_list_display(request))
        if "thredfi_status_badge" not in columns:
            columns.append("thredfi_status_badge")
        return columns

    def get_list_filter(self, request: HttpRequest) -> list[Any]:
        filters = list(super().get_list_filter(request))
        if ThredfiSyncStatusFilter not in filters:
            filters.append(ThredfiSyncStatusFilter)
        return filters

    @admin.display(description=_("Thredfi"), ordering=STATUS_ANNOTATION)
    def thredfi_status_badge(self, obj: Model) -> str:
        if hasattr(obj, STATUS_ANNOTATION):
            status = getattr(obj, STATUS_ANNOTATION)
        else:  # an object not loaded through get_queryset()
            state = self._thredfi_state(obj)
            status = state.status if state else None
        return status_badge(status, title=getattr(obj, ERROR_CODE_ANNOTATION, "") or "")

    @property
    def media(self) -> forms.Media:
        return super().media + forms.Media(css={"all": [ADMIN_CSS]})

    # -- change form ---------------------------------------------------------------------------

    def _thredfi_fields(self) -> list[str]:
        fields = list(self.thredfi_readonly_fields)
        if any(f.name == "thredfi_id" for f in self.model._meta.concrete_fields):
            fields.insert(1, "thredfi_id")
        return fields

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None) -> list[str]:
        fields = list(super().get_readonly_fields(request, obj))
        if obj is None:  # nothing to show before the object exists
            return fields
        return fields + [name for name in self._thredfi_fields() if name not in fields]

    def get_fieldsets(self, request: HttpRequest, obj: Model | None = None) -> list[Any]:
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None:
            return fieldsets
        ours = self._thredfi_fields()
        result = []
        for name, options in fieldsets:
            options = dict(options)
            options["fields"] = [f for f in options.get("fields", ()) if f not in ours]
            if options["fields"]:
                result.append((name, options))
        result.append((self.thredfi_fieldset_title, {"fields": ours, "classes": ["thredfi"]}))
        return result

    def get_object(self, request: HttpRequest, object_id: str, from_field: Any = None) -> Any:
        obj = super().get_object(request, object_id, from_field)
        if obj is not None:
            # Loaded once here, read by every field of the fieldset.
            obj._thredfi_state_cache = self._thredfi_state(obj)
            obj._thredfi_state_url = None
            if obj._thredfi_state_cache and request.user.has_perm("thredfi_django.view_syncstate"):
                try:
                    obj._thredfi_state_url = reverse(
                        f"{self.admin_site.name}:thredfi_django_syncstate_change",
                        args=[obj._thredfi_state_cache.pk],
                    )
                except NoReverseMatch:  # the outbox admin is not registered on this site
                    pass
        return obj

    def _thredfi_state(self, obj: Model) -> SyncState | None:
        if hasattr(obj, "_thredfi_state_cache"):
            return obj._thredfi_state_cache
        from .. import outbox

        # state_for: an object saved but not taken in by the engine yet shows as pending.
        state = outbox.state_for(obj)
        obj._thredfi_state_cache = state
        return state

    @admin.display(description=_("Sync status"))
    def thredfi_sync_status(self, obj: Model) -> str:
        state = self._thredfi_state(obj)
        if state is None:
            return status_badge(None)
        parts = [status_badge(state.status)]
        if state.remote_stale:
            parts.append(format_html(" · {}", _("outdated in Thredfi (no update endpoint)")))
        if state.last_synced_at:
            parts.append(format_html(" last synced {}", when(state.last_synced_at)))
        url = getattr(obj, "_thredfi_state_url", None)
        if url:
            parts.append(format_html(' · <a href="{}">{}</a>', url, _("sync history")))
        return format_html("{}" * len(parts), *parts)

    @admin.display(description=_("External ID"))
    def thredfi_external_id(self, obj: Model) -> str:
        state = self._thredfi_state(obj)
        return state.external_id if state else ""

    @admin.display(description=_("Attempts"))
    def thredfi_attempts(self, obj: Model) -> str:
        state = self._thredfi_state(obj)
        if state is None:
            return ""
        if state.next_attempt_at and state.status == SyncStatus.PENDING:
            return format_html("{} (next attempt {})", state.attempts, when(state.next_attempt_at))
        return str(state.attempts)

    @admin.display(description=_("Last error"))
    def thredfi_last_error(self, obj: Model) -> str:
        state = self._thredfi_state(obj)
        if state is None:
            return ""
        return error_summary_html(
            code=state.last_error_code,
            status=state.last_error_status,
            kind=state.last_error_kind,
            message=state.last_error_message,
            fields=state.last_error_fields,
            at=state.last_error_at,
        )

    # -- actions -------------------------------------------------------------------------------

    def _thredfi_states(self, queryset: QuerySet) -> QuerySet[SyncState]:
        if _has_marker(queryset.model):
            from .. import inbox

            inbox.absorb_queryset(queryset)  # saved but only marked so far: give them rows
        content_type = ContentType.objects.get_for_model(queryset.model)
        ids = [str(pk) for pk in queryset.values_list("pk", flat=True)]
        return SyncState.objects.filter(content_type=content_type, object_id__in=ids)

    @admin.action(description=_("Sync now with Thredfi"), permissions=["sync"])
    def thredfi_sync_now(self, request: HttpRequest, queryset: QuerySet) -> None:
        from .. import outbox

        states = self._thredfi_states(queryset)
        queued = outbox.request_sync(states)
        # Objects never recorded (e.g. created before the app was installed) get their row now;
        # mark_dirty enqueues them after this request's transaction commits.
        never = annotate_sync_state(queryset).filter(**{f"{STATUS_ANNOTATION}__isnull": True})
        if not hasattr(queryset.model, "get_thredfi_external_id"):
            never = []  # not a synced model (no Thredfi model mixin): nothing to record
        for obj in never:
            outbox.mark_dirty(obj)
            queued += 1
        self._thredfi_report(request, queued, len(queryset))

    @admin.action(description=_("Retry failed Thredfi syncs"), permissions=["sync"])
    def thredfi_retry_failed(self, request: HttpRequest, queryset: QuerySet) -> None:
        from .. import outbox

        states = self._thredfi_states(queryset).filter(status__in=FAILED_STATUSES)
        queued = outbox.request_sync(states)
        self._thredfi_report(request, queued, len(queryset))

    def _thredfi_report(self, request: HttpRequest, queued: int, selected: int) -> None:
        opts = self.model._meta
        name = opts.verbose_name if queued == 1 else opts.verbose_name_plural
        message = ngettext(
            "%(count)d %(name)s queued for sync with Thredfi.",
            "%(count)d %(name)s queued for sync with Thredfi.",
            queued,
        ) % {"count": queued, "name": name}
        skipped = selected - queued
        if skipped > 0:
            message += " " + ngettext(
                "%(count)d skipped (nothing to retry, or being synced right now).",
                "%(count)d skipped (nothing to retry, or being synced right now).",
                skipped,
            ) % {"count": skipped}
        level = messages.SUCCESS if queued else messages.WARNING
        self.message_user(request, message, level)
