"""Celery tasks: thin wrappers around the engine's plain functions (``sync.py``).

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


def worker_name() -> str:
    """``host:pid``, stored as lease owner and on attempt rows."""
    return f"{socket.gethostname()}:{os.getpid()}"[:100]


@shared_task(name="thredfi_django.sync_object", acks_late=True, reject_on_worker_lost=True)
def sync_object(state_id: int) -> str:
    """Push one object (by SyncState id) to Thredfi. Returns the outcome name."""
    from .sync import sync_state

    return sync_state(state_id, worker=worker_name()).outcome


@shared_task(name="thredfi_django.drain_pending", acks_late=True, reject_on_worker_lost=True)
def drain_pending() -> int:
    """Push everything that is due, in batches (see ``sync.drain``). Returns rows handled."""
    from .sync import drain

    return drain(worker=worker_name())


@shared_task(name="thredfi_django.sweep_pending")
def sweep_pending() -> int:
    """Re-enqueue due pending rows and expired leases (schedule with Celery beat, e.g. 1/min)."""
    from .sync import sweep

    return sweep()


@worker_process_init.connect(weak=False, dispatch_uid="thredfi_django.load_engine")
def load_engine(**kwargs) -> None:
    """Import the engine and its HTTP client (requests, urllib3…) as a pool process starts,
    not in its first task: a first drain would spend some 0.1-0.2 s importing them while it
    holds a batch's leases. Django is set up by then (Celery's Django fix-up)."""
    from . import sync  # noqa: F401
    from .client import api  # noqa: F401
