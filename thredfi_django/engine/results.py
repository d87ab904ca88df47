"""What a push is and what came of it: the records the pipeline and the outcomes share."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone

from ..exceptions import ThredfiError
from ..models import SyncState
from .plan import Blocked, RemoteCall
from .send import Answer


@dataclass
class SyncResult:
    """What one row's push did. ``outcome``: synced, skipped, dry_run, paused, not_claimed,
    missing, blocked, retry, failed, needs_attention, deferred."""

    state_id: int
    outcome: str
    status: str | None = None
    remote_id: str | None = None
    message: str = ""
    requests: int = 0
    request: dict[str, Any] | None = None
    field_errors: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.outcome in ("synced", "skipped", "dry_run")


@dataclass
class Push:
    """One claimed row on its way: what was planned, and what came of it (exactly one of
    ``answer``, ``error``, ``blocked``, ``not_sent``, or a ``call`` that needs no request)."""

    token: str
    state: SyncState
    instance: Any = None
    call: RemoteCall | None = None
    started: dt.datetime = field(default_factory=timezone.now)
    answer: Answer | None = None
    error: BaseException | None = None
    blocked: Blocked | None = None
    not_sent: bool = False
    #: The business's sync-state id, for a row recorded before its business was.
    business_id: int | None = None
    #: Requests made inline for its dependencies.
    requests: int = 0


@dataclass
class Release:
    """The row's new values (if its version is unchanged) and its attempt row."""

    status: str
    outcome: str | None  # SyncAttempt.Outcome, or None: no attempt row
    reopen: bool = True  # a newer save makes it pending and due instead
    synced: bool = False
    remote_id: str | None = None
    attempts: int = 0
    next_attempt_at: dt.datetime | None = None
    countdown: float | None = None
    blocked_on_id: int | None = None
    error: ThredfiError | None = None
    #: "Outdated in Thredfi": True when a change could not be sent, False once a create sent
    #: it all, None to leave as it is.
    stale: bool | None = None
    #: The row's new ``remote_status`` (an archivable record archived or not); None: as it was.
    remote_status: str | None = None
    #: The document digest to keep on the row (plan.RemoteCall.document_digest); None: as is.
    document_digest: str | None = None
    message: str = ""
    result: str = "synced"
