"""Signals the host project can listen to. Sent by the sync engine, never by receivers."""

from django.dispatch import Signal

#: Sent after an object reached Thredfi.
#: sender: the host model class; instance: the host object (None if deleted); state: SyncState;
#: remote: the dict Thredfi returned; created: True when the remote record was created.
sync_succeeded = Signal()

#: Sent when a push failed. sender: the host model class; instance; state: SyncState;
#: error: the ThredfiError; will_retry: True when the engine scheduled another attempt.
sync_failed = Signal()
