"""What the admin shows about a sync state: status badges, redacted messages, error summaries.

Everything here is display only; nothing touches the database.
"""

from __future__ import annotations

from typing import Any

from django.utils import formats, timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from ..models import SyncStatus
from ..money import from_cents
from ..redaction import redact, redact_data  # noqa: F401  (re-exported for the admin)

#: Label of the pseudo-status of a host object that has no sync-state row yet.
NEVER_SYNCED = "never"
NEVER_SYNCED_LABEL = _("Never synced")

#: The stylesheet every page that shows a badge includes.
ADMIN_CSS = "thredfi_django/admin.css"


def when(value: Any) -> str:
    """A datetime as the admin shows dates (localized, in the current time zone)."""
    if value is None:
        return ""
    if timezone.is_aware(value):
        value = timezone.localtime(value)
    return formats.localize(value)


def status_label(status: str | None) -> str:
    """Human label of a status value; ``None`` means no sync-state row ("never synced")."""
    if not status or status == NEVER_SYNCED:
        return str(NEVER_SYNCED_LABEL)
    try:
        return str(SyncStatus(status).label)
    except ValueError:
        return status


def status_badge(status: str | None, *, title: str = "") -> SafeString:
    """A coloured badge with the status's text (colour is never the only signal).

    ``title`` (e.g. the last error code) shows as a tooltip."""
    key = status if status in SyncStatus.values else NEVER_SYNCED
    return format_html(
        '<span class="thredfi-badge thredfi-badge--{}" data-thredfi-status="{}"{}>{}</span>',
        key.replace("_", "-"),
        key,
        format_html(' title="{}"', title) if title else "",
        status_label(status),
    )


def field_errors_html(field_errors: Any) -> SafeString | str:
    """Field errors ({"field": ["message", ...]} or a bare string/list) as an HTML list."""
    if not field_errors:
        return ""
    field_errors = redact_data(field_errors)
    if isinstance(field_errors, dict):
        rows = []
        for field, messages in field_errors.items():
            if isinstance(messages, (list, tuple)):
                messages = "; ".join(str(message) for message in messages)
            rows.append((field, messages))
        return format_html(
            '<ul class="thredfi-field-errors">{}</ul>',
            format_html_join("", "<li><code>{}</code>: {}</li>", rows),
        )
    if isinstance(field_errors, (list, tuple)):
        return format_html(
            '<ul class="thredfi-field-errors">{}</ul>',
            format_html_join("", "<li>{}</li>", ((str(item),) for item in field_errors)),
        )
    return str(field_errors)


def error_summary_html(
    *,
    code: str,
    status: int | None,
    kind: str,
    message: str,
    fields: Any,
    at: Any = None,
) -> SafeString | str:
    """The last error of a state as the change form shows it; ``""`` when there is none."""
    if not (code or status or kind or message or fields):
        return ""
    head = " · ".join(
        str(part) for part in (code, f"HTTP {status}" if status else "", kind) if part
    )
    return format_html(
        '<div class="thredfi-error"><strong>{}</strong>{}<div>{}</div>{}</div>',
        head,
        format_html(" <small>({})</small>", when(at)) if at else "",
        redact(message),
        field_errors_html(fields),
    )


def remote_summary(state: Any) -> str:
    """What the last pull (``engine/pull.py``) read of the record in Thredfi: its status, the
    amounts paid and due, and when it was read; for a customer or vendor (never pulled), what
    its last archive or unarchive left it as; ``""`` when neither says anything."""
    if state is None or (state.remote_checked_at is None and not state.remote_status):
        return ""
    amounts = (
        (state.remote_amount_paid_cents, _("paid")),
        (state.remote_amount_due_cents, _("due")),
    )
    parts = [f"{from_cents(cents):.2f} {label}" for cents, label in amounts if cents is not None]
    return format_html(
        "<strong>{}</strong>{} <small>({})</small>",
        state.remote_status or "—",
        "".join(f" · {part}" for part in parts),
        _("read %(when)s") % {"when": when(state.remote_checked_at)}
        if state.remote_checked_at
        else _("as last pushed"),
    )
