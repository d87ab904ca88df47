"""``ThredfiSyncAdminMixin``: sync status, errors and "Sync now" on the host's own ModelAdmins.

    from django.contrib import admin
    from thredfi_django.admin import ThredfiSyncAdminMixin

    @admin.register(Invoice)
    class InvoiceAdmin(ThredfiSyncAdminMixin, admin.ModelAdmin):
        list_display = ["number", "customer", "total"]

The changelist gains a status badge column, an amount column for models with line items and a
"Thredfi sync" filter, read from correlated subqueries (no query per row). The change form
gains a read-only "Thredfi" fieldset and a "Sync now" button, and saving it warns at once when
the object cannot be sent to Thredfi as it is. "Sync now" and "Retry failed" only *queue* work
(``recording.resync``): no HTTP happens in the web request. They need the
``thredfi_django.sync_objects`` permission and are hidden without it.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.template.loader import select_template
from django.urls import NoReverseMatch, path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from ..engine import absorb
from ..exceptions import ThredfiLocalValidationError
from ..models import SyncAttempt, SyncState, SyncStatus
from ..recording import changes, resync
from .annotations import (
    AMOUNT_ANNOTATION,
    ERROR_CODE_ANNOTATION,
    STATUS_ANNOTATION,
    amount_text,
    annotate_amount,
    annotate_sync_state,
    has_change_marker,
    lines_total_expression,
)
from .display import ADMIN_CSS, error_summary_html, remote_summary, status_badge, when
from .filters import FAILED_STATUSES, ThredfiSyncStatusFilter
from .retry import held_back_message, hold_back_still_invalid

#: The permission that allows "Sync now", "Retry" and "Mark resolved".
SYNC_PERMISSION = "thredfi_django.sync_objects"


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
        "thredfi_remote_status",
        "thredfi_external_id",
        "thredfi_attempts",
        "thredfi_last_error",
    )
    #: The change form with the "Sync now" button. A ModelAdmin with its own
    #: ``change_form_template`` can include "thredfi_django/admin/sync_now_tool.html" in its
    #: ``object-tools-items`` block instead.
    change_form_template = "thredfi_django/admin/host_change_form.html"

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
        return annotate_amount(annotate_sync_state(super().get_queryset(request)))

    def get_list_display(self, request: HttpRequest) -> list[Any]:
        columns = list(super().get_list_display(request))
        if "thredfi_amount" not in columns and lines_total_expression(self.model) is not None:
            columns.append("thredfi_amount")
        if "thredfi_status_badge" not in columns:
            columns.append("thredfi_status_badge")
        return columns

    @admin.display(description=_("Amount"), ordering=AMOUNT_ANNOTATION)
    def thredfi_amount(self, obj: Model) -> str:
        """The line items' total in the object's currency (``—`` without lines)."""
        if not hasattr(obj, AMOUNT_ANNOTATION):  # an object not loaded through get_queryset()
            obj = annotate_amount(type(obj)._default_manager.filter(pk=obj.pk)).first() or obj
        return amount_text(obj)

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
            recorded = getattr(obj._thredfi_state_cache, "pk", None)
            if recorded and request.user.has_perm("thredfi_django.view_syncstate"):
                try:
                    obj._thredfi_state_url = reverse(
                        f"{self.admin_site.name}:thredfi_django_syncstate_change",
                        args=[obj._thredfi_state_cache.pk],
                    )
                except NoReverseMatch:  # the sync-state admin is not registered on this site
                    pass
        return obj

    def _thredfi_state(self, obj: Model) -> SyncState | None:
        if hasattr(obj, "_thredfi_state_cache"):
            return obj._thredfi_state_cache
        state = SyncState.objects.for_object(obj)
        if getattr(obj, "thredfi_dirty", None) is not None:
            # Saved, and not taken in by the engine yet: pending. Shown so, not written: a page
            # that is only read changes nothing.
            if state is None:
                state = SyncState(external_id=obj.get_thredfi_external_id())
            state.status = SyncStatus.PENDING
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

    @admin.display(description=_("Status in Thredfi"))
    def thredfi_remote_status(self, obj: Model) -> str:
        return remote_summary(self._thredfi_state(obj))

    @admin.display(description=_("External ID"))
    def thredfi_external_id(self, obj: Model) -> str:
        state = self._thredfi_state(obj)
        return state.external_id if state else ""

    @admin.display(description=_("Attempts"))
    def thredfi_attempts(self, obj: Model) -> str:
        state = self._thredfi_state(obj)
        if state is None:
            return ""
        # ``attempts`` restarts at 0 on each success: alone, "0" next to "synced" reads as
        # "never tried". Say what it counts, and how many pushes the history holds.
        total = SyncAttempt.objects.filter(state=state).count()
        history = ngettext("%(n)d in the history", "%(n)d in the history", total) % {"n": total}
        if not state.attempts:
            if not total:
                return _("none yet")
            return format_html("{}; {}", _("no failure since the last success"), history)
        failing = ngettext(
            "%(n)d failed since the last success", "%(n)d failed since the last success",
            state.attempts,
        ) % {"n": state.attempts}  # fmt: skip
        if state.next_attempt_at and state.status == SyncStatus.PENDING:
            failing += format_html(" (next attempt {})", when(state.next_attempt_at))
        return format_html("{}; {}", failing, history)

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
        if has_change_marker(queryset.model):
            absorb.absorb_queryset(queryset)  # saved but only marked so far: give them rows
        content_type = ContentType.objects.get_for_model(queryset.model)
        ids = [str(pk) for pk in queryset.values_list("pk", flat=True)]
        return SyncState.objects.filter(content_type=content_type, object_id__in=ids)

    @admin.action(description=_("Sync now with Thredfi"), permissions=["sync"])
    def thredfi_sync_now(self, request: HttpRequest, queryset: QuerySet) -> None:

        states, held = hold_back_still_invalid(self._thredfi_states(queryset))
        queued = resync.request_sync(states)
        # Objects never recorded (e.g. created before the app was installed) get their row now;
        # mark_dirty enqueues them after this request's transaction commits.
        never = annotate_sync_state(queryset).filter(**{f"{STATUS_ANNOTATION}__isnull": True})
        if not hasattr(queryset.model, "get_thredfi_external_id"):
            never = []  # not a synced model (no Thredfi model mixin): nothing to record
        for obj in never:
            changes.mark_dirty(obj)
            queued += 1
        self._thredfi_report(request, queued, len(queryset), held)

    @admin.action(description=_("Retry failed Thredfi syncs"), permissions=["sync"])
    def thredfi_retry_failed(self, request: HttpRequest, queryset: QuerySet) -> None:

        failed = self._thredfi_states(queryset).filter(status__in=FAILED_STATUSES)
        states, held = hold_back_still_invalid(failed)
        queued = resync.request_sync(states)
        self._thredfi_report(request, queued, len(queryset), held)

    def _thredfi_report(self, request: HttpRequest, queued: int, selected: int, held) -> None:
        if held:
            self.message_user(request, held_back_message(held), messages.WARNING)
            selected -= len(held)
            if not queued and not selected:
                return
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

    # -- "Sync now" on the change form, and a warning when the saved object is not valid -----------

    def get_urls(self) -> list[Any]:
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "<path:object_id>/thredfi-sync/",
                self.admin_site.admin_view(self.thredfi_sync_view),
                name="{}_{}_thredfi_sync".format(*info),
            ),
            *super().get_urls(),
        ]

    def render_change_form(
        self, request: HttpRequest, context: dict, add: bool = False, change: bool = False,
        form_url: str = "", obj: Model | None = None,
    ) -> HttpResponse:  # fmt: skip
        opts = self.opts
        # What the change form would extend without us: the host's per-model overrides stay.
        context["thredfi_base_change_form"] = select_template(
            [
                f"admin/{opts.app_label}/{opts.model_name}/change_form.html",
                f"admin/{opts.app_label}/change_form.html",
                "admin/change_form.html",
            ]
        ).template
        if obj is not None and obj.pk is not None and self.has_sync_permission(request, obj):
            context["thredfi_sync_url"] = reverse(
                f"{self.admin_site.name}:{opts.app_label}_{opts.model_name}_thredfi_sync",
                args=[obj.pk],
            )
        return super().render_change_form(request, context, add, change, form_url, obj)

    def thredfi_sync_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """POST: queue this one object ("Sync now" on its change form), then back to the form."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            raise Http404(f"No {self.opts.verbose_name} with id {object_id!r}.")
        if not (self.has_view_permission(request, obj) and self.has_sync_permission(request, obj)):
            raise PermissionDenied
        self.thredfi_sync_now(request, self.model._default_manager.filter(pk=obj.pk))
        info = self.admin_site.name, self.opts.app_label, self.opts.model_name
        return redirect(reverse("{}:{}_{}_change".format(*info), args=[obj.pk]))

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        """After the inlines are saved (an invoice's lines are part of what Thredfi checks),
        tell the person at once if Thredfi will refuse the object. The save stands."""
        super().save_related(request, form, formsets, change)
        obj = form.instance
        if not hasattr(obj, "validate_for_thredfi"):
            return
        obj._prefetched_objects_cache = {}  # read the lines just saved, not a stale cache
        try:
            obj.validate_for_thredfi()
        except ThredfiLocalValidationError as err:
            problems = (
                "; ".join(
                    f"{field}: {' '.join(map(str, messages_))}"
                    for field, messages_ in err.field_errors.items()
                )
                or err.message
            )
            self.message_user(
                request,
                _("Saved, but Thredfi will not accept this %(name)s as it is: %(problems)s")
                % {"name": self.opts.verbose_name, "problems": problems},
                messages.WARNING,
            )
