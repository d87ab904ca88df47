"""Thredfi in the Django admin.

Registered here: the outbox (``SyncState``, with its attempt history) and the sync dashboard.
For the host's own models, mix :class:`ThredfiSyncAdminMixin` into their ModelAdmins.
"""

from django.contrib import admin

from ..models import SyncDashboard, SyncState
from .annotations import annotate_sync_state
from .dashboard import SyncDashboardAdmin, dashboard_data
from .display import redact, status_badge
from .filters import ThredfiSyncStatusFilter
from .mixins import SYNC_PERMISSION, ThredfiSyncAdminMixin
from .sync_state import SyncAttemptInline, SyncStateAdmin

__all__ = [
    "SYNC_PERMISSION",
    "SyncAttemptInline",
    "SyncDashboardAdmin",
    "SyncStateAdmin",
    "ThredfiSyncAdminMixin",
    "ThredfiSyncStatusFilter",
    "annotate_sync_state",
    "dashboard_data",
    "redact",
    "status_badge",
]

admin.site.register(SyncState, SyncStateAdmin)
admin.site.register(SyncDashboard, SyncDashboardAdmin)
