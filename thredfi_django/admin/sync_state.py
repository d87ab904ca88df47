"""The outbox in the admin: every sync-state row across all models, with its attempt history.

Read-only: rows are written by the engine. Operators filter, search, open a row to read its
history, and act in bulk with "Retry" (``recording.resync.request_sync``) or "Mark resolved".
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import QuerySet
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseNotAllowed,
)
from django.shortcuts import redirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.timesince import timesince
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from ..models import SyncAttempt, SyncState, SyncStatus
from ..recording.resync import request_sync
from .display import (
    ADMIN_CSS,
    error_summary_html,
    field_errors_html,
    redact,
    remote_summary,
    status_badge,
    when,
)
from .filters import AgeListFilter, BusinessListFilter, ModelListFilter, RemoteStaleListFilter
from .mixins import SYNC_PERMISSION
from .paginator import EstimatingPaginator
from .retry import held_back_message, hold_back_still_invalid

#: "Mark resolved" leaves these alone: nothing to resolve, or a worker owns the row right now.
NOT_RESOLVABLE = (SyncStatus.SYNCED, SyncStatus.RESOLVED, SyncStatus.IN_PROGRESS)


class SyncAttemptInline(admin.TabularInline):
    """The attempt history of one row, newest first, messages redacted."""

    model = SyncAttempt
    extra = 0
    can_delete = False
    ordering = ["-started_at", "-id"]
    verbose_name = _("attempt")
    verbose_name_plural = _("attempt history (newest first)")
    classes = ["thredfi-history"]
    fields = [
        "started",
        "duration",
        "operation",
        "version",
        "outcome_display",
        "http_status",
        "error_code",
        "redacted_message",
        "field_errors_display",
        "worker",
    ]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # The history is part of the row: whoever may view the row may read it.
        return request.user.has_perm("thredfi_django.view_syncstate") or request.user.has_perm(
            "thredfi_django.view_syncattempt"
        )

    @admin.display(description=_("started"), ordering="started_at")
    def started(self, attempt: SyncAttempt) -> str:
        # Seconds matter when reading retries; the admin's default date format drops them.
        return timezone.localtime(attempt.started_at).strftime("%Y-%m-%d %H:%M:%S")

    @admin.display(description=_("took"))
    def duration(self, attempt: SyncAttempt) -> str:
        if attempt.finished_at is None:
            return _("unfinished")
        seconds = (attempt.finished_at - attempt.started_at).total_seconds()
        return f"{seconds:.2f} s"

    @admin.display(description=_("outcome"))
    def outcome_display(self, attempt: SyncAttempt) -> str:
        return format_html(
            '<span class="thredfi-outcome thredfi-outcome--{}">{}</span>',
            attempt.outcome,
            attempt.get_outcome_display(),
        )

    @admin.display(description=_("message"))
    def redacted_message(self, attempt: SyncAttempt) -> str:
        return redact(attempt.message)

    @admin.display(description=_("field errors"))
    def field_errors_display(self, attempt: SyncAttempt) -> str:
        return field_errors_html(attempt.field_errors)


class SyncStateAdmin(admin.ModelAdmin):
    """The outbox across all synced models. Viewing needs ``view_syncstate``; the bulk actions
    need ``thredfi_django.sync_objects``."""

    list_display = [
        "object_display",
        "model_display",
        "status_badge",
        "remote_status",
        "business_display",
        "attempts",
        "last_error_code",
        "updated_display",
    ]
    list_display_links = ["object_display"]
    list_select_related = ["content_type", "business"]
    list_filter = [
        ("content_type", ModelListFilter),
        "status",
        RemoteStaleListFilter,
        BusinessListFilter,
        AgeListFilter,
    ]
    # The search box; what it matches is get_search_results.
    search_fields = ["external_id", "remote_id", "object_id", "label"]
    search_help_text = _(
        "An external id, a Thredfi id or a host object id, exactly; "
        "or the start of a name in the Object column, in any case."
    )
    ordering = ["-updated_at", "-id"]
    # Large tables: no count of the unfiltered table next to a filtered one, and estimated
    # counts above EXACT_COUNT_LIMIT (admin/paginator.py).
    show_full_result_count = False
    paginator = EstimatingPaginator
    date_hierarchy = None
    actions = ["retry", "mark_resolved"]
    inlines = [SyncAttemptInline]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "status_badge",
                    "host_object_link",
                    "resource",
                    "content_type",
                    "object_id",
                    "label",
                    "business",
                    "external_id",
                    "remote_id",
                    "remote_stale",
                    "remote_display",
                    "document_display",
                ]
            },
        ),
        (
            _("Progress"),
            {
                "fields": [
                    "operation",
                    "version",
                    "synced_version",
                    "attempts",
                    "next_attempt_at",
                    "lease_owner",
                    "lease_until",
                    "blocked_on",
                    "last_synced_at",
                    "created_at",
                    "updated_at",
                ]
            },
        ),
        (_("Last error"), {"fields": ["last_error"]}),
    ]
    readonly_fields = [
        "status_badge",
        "host_object_link",
        "last_error",
        "remote_display",
        "document_display",
        *(f.name for f in SyncState._meta.concrete_fields),
    ]

    change_form_template = "thredfi_django/admin/syncstate_change_form.html"
    change_list_template = "thredfi_django/admin/syncstate_change_list.html"

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        extra_context = {
            "thredfi_dashboard_url": reverse(
                f"{self.admin_site.name}:thredfi_django_syncdashboard_changelist"
            ),
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra_context)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        # The whole term, not word by word: a name has spaces, an id has none.
        return queryset.search(search_term), False

    # -- one row: "Retry now" / "Mark resolved" buttons on the detail page ------------------------

    def get_urls(self) -> list[Any]:
        info = self.opts.app_label, self.opts.model_name
        return [
            path(
                "<path:object_id>/sync-action/",
                self.admin_site.admin_view(self.sync_action_view),
                name="{}_{}_sync_action".format(*info),
            ),
            *super().get_urls(),
        ]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        extra_context = {
            "thredfi_can_sync": self.has_sync_permission(request),
            "thredfi_action_url": reverse(
                f"{self.admin_site.name}:thredfi_django_syncstate_sync_action", args=[object_id]
            ),
            **(extra_context or {}),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def sync_action_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """POST ``action=retry`` or ``action=mark_resolved`` for one row, then back to it."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        state = self.get_object(request, unquote(object_id))
        if state is None:
            raise Http404(f"No sync state with id {object_id!r}.")
        if not (self.has_view_permission(request, state) and self.has_sync_permission(request)):
            raise PermissionDenied
        actions = {"retry": self.retry, "mark_resolved": self.mark_resolved}
        action = actions.get(request.POST.get("action", ""))
        if action is None:
            return HttpResponseBadRequest("action must be 'retry' or 'mark_resolved'.")
        action(request, SyncState.objects.filter(pk=state.pk))
        return redirect(
            reverse(f"{self.admin_site.name}:thredfi_django_syncstate_change", args=[state.pk])
        )

    # -- permissions: rows belong to the engine --------------------------------------------------

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # the change view is a read-only view

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # deleting would lose the history; "Mark resolved" is the way out

    def has_sync_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        """May this user retry or resolve rows? (``thredfi_django.sync_objects``)"""
        return request.user.has_perm(SYNC_PERMISSION)

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        # The dashboard links to "rows whose last error has this code".
        if lookup == "last_error_code":
            return True
        try:
            return super().lookup_allowed(lookup, value, request)
        except TypeError:  # Django < 5.0 has no ``request`` argument
            return super().lookup_allowed(lookup, value)

    @property
    def media(self) -> forms.Media:
        return super().media + forms.Media(css={"all": [ADMIN_CSS]})

    # -- columns ---------------------------------------------------------------------------------

    @admin.display(description=_("object"), ordering="label")
    def object_display(self, state: SyncState) -> str:
        return state.label or f"{state.content_type.model} {state.object_id}"

    @admin.display(description=_("model"), ordering="content_type__model")
    def model_display(self, state: SyncState) -> str:
        model = state.content_type.model_class()
        name = str(model._meta.verbose_name) if model else state.content_type.model
        # The Thredfi resource only when it is not what the model is called anyway.
        if state.resource and state.resource.replace("_", " ") != name.lower():
            return format_html("{} <small>→ {}</small>", name.capitalize(), state.resource)
        return name.capitalize()

    @admin.display(description=_("updated"), ordering="updated_at")
    def updated_display(self, state: SyncState) -> str:
        return format_html(
            '<span title="{}">{}</span>',
            when(state.updated_at),
            _("%(time)s ago") % {"time": timesince(state.updated_at).split(",")[0]},
        )

    @admin.display(description=_("status"), ordering="status")
    def status_badge(self, state: SyncState) -> str:
        badge = status_badge(state.status)
        if not state.remote_stale:
            return badge
        return format_html(
            '{} <span class="thredfi-stale" title="{}">{}</span>',
            badge,
            _("Changed after its first push; Thredfi has no update for it and keeps older data."),
            _("outdated in Thredfi"),
        )

    @admin.display(description=_("business"), ordering="business__label")
    def business_display(self, state: SyncState) -> str:
        if state.business_id is None or state.business_id == state.pk:
            return "—"
        return state.business.label or state.business.external_id

    @admin.display(description=_("host object"))
    def host_object_link(self, state: SyncState) -> str:
        model = state.content_type.model_class()
        if model is None:
            return state.object_id
        name = f"{self.admin_site.name}:{model._meta.app_label}_{model._meta.model_name}_change"
        try:
            url = reverse(name, args=[state.object_id])
        except Exception:  # not registered in this admin site
            return f"{model._meta.verbose_name} #{state.object_id}"
        return format_html(
            '<a href="{}">{} #{}</a>', url, model._meta.verbose_name, state.object_id
        )

    @admin.display(description=_("status in Thredfi"))
    def remote_display(self, state: SyncState) -> str:
        return remote_summary(state) or _("not read back yet (thredfi_pull)")

    @admin.display(description=_("document (PDF)"))
    def document_display(self, state: SyncState) -> str:
        if not state.document_digest:
            return _("none sent")
        return _("sent (SHA-256 %(digest)s…)") % {"digest": state.document_digest[:12]}

    @admin.display(description=_("last error"))
    def last_error(self, state: SyncState) -> str:
        return error_summary_html(
            code=state.last_error_code,
            status=state.last_error_status,
            kind=state.last_error_kind,
            message=state.last_error_message,
            fields=state.last_error_fields,
            at=state.last_error_at,
        ) or _("None")

    # -- actions ---------------------------------------------------------------------------------

    @admin.action(description=_("Retry (queue a sync now)"), permissions=["sync"])
    def retry(self, request: HttpRequest, queryset: QuerySet) -> None:
        selected = queryset.count()
        worth, held = hold_back_still_invalid(queryset)
        if held:
            self.message_user(request, held_back_message(held), messages.WARNING)
            selected -= len(held)
            if not selected:
                return
        queued = request_sync(worth)
        message = ngettext(
            "%(count)d sync state queued for sync.",
            "%(count)d sync states queued for sync.",
            queued,
        ) % {"count": queued}
        if selected > queued:
            message += " " + ngettext(
                "%(count)d skipped (being synced right now).",
                "%(count)d skipped (being synced right now).",
                selected - queued,
            ) % {"count": selected - queued}
        self.message_user(request, message, messages.SUCCESS if queued else messages.WARNING)

    @admin.action(description=_("Mark resolved (stop retrying)"), permissions=["sync"])
    def mark_resolved(self, request: HttpRequest, queryset: QuerySet) -> None:
        now = timezone.now()
        with transaction.atomic():
            # Locked, so a worker cannot claim a row between reading and resolving it.
            targets = list(
                SyncState.objects.filter(pk__in=queryset.values("pk"))
                .exclude(status__in=NOT_RESOLVABLE)
                .select_for_update()
            )
            SyncState.objects.filter(pk__in=[s.pk for s in targets]).update(
                status=SyncStatus.RESOLVED, next_attempt_at=None, updated_at=now
            )
        who = request.user.get_username()
        for state in targets:
            # Who and when, in the admin's own history of the row.
            self.log_change(
                request,
                state,
                f"Marked resolved by {who} at {now:%Y-%m-%d %H:%M:%S %Z} "
                f"(was {state.get_status_display()}).",
            )
        count = len(targets)
        skipped = queryset.count() - count
        message = ngettext(
            "%(count)d sync state marked resolved by %(who)s.",
            "%(count)d sync states marked resolved by %(who)s.",
            count,
        ) % {"count": count, "who": who}
        if skipped:
            message += " " + ngettext(
                "%(count)d skipped (synced, already resolved or being synced).",
                "%(count)d skipped (synced, already resolved or being synced).",
                skipped,
            ) % {"count": skipped}
        self.message_user(request, message, messages.SUCCESS if count else messages.WARNING)
