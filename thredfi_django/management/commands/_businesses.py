"""Selecting businesses on the command line: by local id, external_id or Thredfi ID."""

from __future__ import annotations

import uuid

from django.core.management.base import CommandError
from django.db.models import Q, QuerySet

from thredfi_django.models import SyncState

#: ``--business`` help for commands that look at every business unless told otherwise.
BUSINESS_HELP = "Only this business: its local id, external_id or Thredfi ID (default: all)."


def add_business_argument(parser, help: str = BUSINESS_HELP) -> None:
    """``--business ID``, read by :func:`business_states` or :func:`one_business_state`."""
    parser.add_argument("--business", metavar="ID", help=help)


def business_states(value: str | None, hint: str = "") -> QuerySet[SyncState]:
    """The sync states of every business, or of those ``value`` names (CommandError if none;
    ``hint`` is added to that message)."""
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
            + hint
        )
    return states


def one_business_state(value: str, hint: str = "") -> SyncState:
    """The sync state of the one business ``value`` names (CommandError if none or several:
    a local id may be shared by two business models)."""
    found = list(business_states(value, hint)[:2])
    if len(found) > 1:
        raise CommandError(
            f"{value!r} matches several businesses; use its external_id or Thredfi ID."
        )
    return found[0]
