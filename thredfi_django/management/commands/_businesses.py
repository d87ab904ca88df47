"""Selecting businesses on the command line: by local id, external_id or Thredfi ID."""

from __future__ import annotations

import uuid

from django.core.management.base import CommandError
from django.db.models import Q, QuerySet

from thredfi_django.models import SyncState


def business_states(value: str | None) -> QuerySet[SyncState]:
    """The sync states of every business, or of the one ``value`` names (CommandError if none)."""
    states = SyncState.objects.filter(resource="business").order_by("pk")
    if not value:
        return states
    match = Q(object_id=value) | Q(external_id=value)
    try:
        match |= Q(remote_id=uuid.UUID(value))
    except ValueError:
        pass
    states = states.filter(match)
    if not states.exists():
        raise CommandError(
            f"No business matches {value!r} (tried its local id, external_id and Thredfi ID)."
        )
    return states
