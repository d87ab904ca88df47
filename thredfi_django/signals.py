"""Signals the host project can listen to. Sent by the sync engine, never by receivers."""

from django.dispatch import Signal

#: Sent after an object reached Thredfi.
#: sender: the host model class; instance: the host object (None if deleted); state: SyncState;
#: remote: the dict Thredfi returned; created: True when the remote record was created.
sync_succeeded = Signal()

#: Sent when a push failed. sender: the host model class; instance; state: SyncState;
#: error: the ThredfiError; will_retry: True when the engine scheduled another attempt.
sync_failed = Signal()

#: Sent when the engine pauses pushes it cannot make (``engine/pauses.py``). sender: None;
#: scope: "credentials" (every push) or "business:<sync-state id>"; reason: the error, in words.
sync_paused = Signal()

#: Sent after a pull (``engine/pull.py``) found a record's status or amounts changed in Thredfi,
#: once the new values are committed. sender: the host model class; instance: the host object
#: (None if deleted); state: SyncState (already holding the new values); remote: the record as
#: Thredfi listed it; changed: {field: (old, new)} over ``remote_status``,
#: ``remote_amount_due_cents`` and ``remote_amount_paid_cents`` (old is "" / None on first read).
remote_changed = Signal()
