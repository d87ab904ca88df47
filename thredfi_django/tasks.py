"""Celery tasks: thin wrappers around the engine's plain functions (``engine``).

Recording sends them by name (``recording.wake``), so their names are part of the public
interface: ``thredfi_django.sync_object``, ``thredfi_django.drain_pending`` and
``thredfi_django.sweep_pending`` and ``thredfi_django.pull_remote`` (schedule the last two with
Celery beat).

``sync_object`` never raises for a failed push: the engine has already recorded the outcome on
the sync state and scheduled any retry (a countdown task plus the sweep as a safety net), so a
Celery-level retry would only duplicate work. ``acks_late`` + ``reject_on_worker_lost`` make a
task whose worker died run again; the row's lease keeps two runs from pushing at once.
"""

from __future__ import annotations

import os
import socket

from celery import shared_task
from celery.signals import worker_process_init

from .client import get_client
from .engine.drain import drain, sync_state
from .engine.pull import pull
from .engine.sweep import sweep
from .exceptions import ThredfiConfigurationError


def worker_name() -> str:
    """``host:pid``, stored as lease owner and on attempt rows."""
    return f"{socket.gethostname()}:{os.getpid()}"[:100]


@shared_task(name="thredfi_django.sync_object", acks_late=True, reject_on_worker_lost=True)
def sync_object(state_id: int) -> str:
    """Push one object (by SyncState id) to Thredfi. Returns the outcome name."""
    return sync_state(state_id, worker=worker_name()).outcome


@shared_task(name="thredfi_django.drain_pending", acks_late=True, reject_on_worker_lost=True)
def drain_pending() -> int:
    """Push everything that is due, in batches (see ``engine.drain``). Returns rows handled."""
    return drain(worker=worker_name())


@shared_task(name="thredfi_django.sweep_pending")
def sweep_pending() -> int:
    """Re-enqueue due pending rows and expired leases (schedule with Celery beat, e.g. 1/min)."""
    return sweep()


@shared_task(name="thredfi_django.pull_remote")
def pull_remote(full: bool = False) -> int:
    """Read back what changed in Thredfi (see ``engine.pull``; schedule with beat, e.g. every
    15 min). Returns the sync-state rows whose remote status or amounts changed."""
    return sum(result.changed for result in pull(full=full))


@worker_process_init.connect(weak=False, dispatch_uid="thredfi_django.load_client")
def load_client(**kwargs) -> None:
    """Build the HTTP client (requests, urllib3, the session) as a pool process starts, not
    in its first drain, which would do it while holding a batch's leases."""
    try:
        get_client()
    except ThredfiConfigurationError:
        pass  # the system checks report it, and so does the first push
