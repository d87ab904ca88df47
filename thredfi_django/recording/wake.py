"""Waking a worker: a Celery message, sent by task *name*, that says "come and look".

The database is the queue: pending sync-state rows (and, for saves, the host row's own
``thredfi_dirty`` marker) say what must be pushed, so the message carries nothing a worker
could lose. Tasks are sent by name (``send_task``): recording runs in the host's web process,
which need not import the worker's task module.

With ``DISPATCH = "drain"`` (the default) :func:`wake` sends one ``drain_pending`` task and
coalesces: a process sends at most one per ``DRAIN_KICK_INTERVAL`` seconds, however many
transactions ask, plus one more at the end of the interval if any asked during it, so the last
save is never left waiting. A drain empties everything that is due, whoever asked for it.
``DRAIN_KICK = "background"`` sends from a daemon thread (a save pays microseconds, not a broker
round trip); ``"inline"`` sends from the after-commit callback itself. With ``DISPATCH =
"per_object"``, :func:`enqueue` sends one ``sync_object`` task per row.

A broker that is down is logged and never fails the save: the rows stay pending for the sweep.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections.abc import Iterable
from typing import Any

from celery import current_app
from django.db import transaction

from ..conf import thredfi_settings

logger = logging.getLogger("thredfi_django.sync")

#: The names the tasks are registered under (``thredfi_django.tasks``).
DRAIN_TASK = "thredfi_django.drain_pending"
SYNC_OBJECT_TASK = "thredfi_django.sync_object"


def send_task(name: str, args: tuple = (), *, countdown: float | None = None) -> bool:
    """Send one task by name now. Never raises; returns whether it was sent."""
    options: dict[str, Any] = {"retry": False}  # broker down: fail at once, don't block
    if thredfi_settings.CELERY_QUEUE:
        options["queue"] = thredfi_settings.CELERY_QUEUE
    if countdown:
        options["countdown"] = countdown
    try:
        current_app.send_task(name, args, **options)
        return True
    except Exception as err:  # broker down / misconfigured: the save must still succeed
        logger.warning(
            "Could not send the Thredfi task %s (%s: %s); the rows stay pending in the database "
            "and the sweep (sweep_pending / manage.py thredfi_sweep) will pick them up.",
            name,
            type(err).__name__,
            err,
        )
        return False


def request_drain(*, using: str | None = None, countdown: float | None = None) -> None:
    """After the current transaction commits (at once in autocommit), make sure a drain task
    is on its way. ``countdown``: a retry's delay; such kicks are sent as they come."""
    transaction.on_commit(lambda: wake(countdown=countdown), using=using)


def wake(*, countdown: float | None = None) -> None:
    """Make sure a drain task is on its way, now (the caller has committed)."""
    if countdown:
        send_task(DRAIN_TASK, countdown=countdown)
    else:
        _coalescer.request()


def enqueue(state_ids: Iterable[int], *, countdown: float | None = None) -> int:
    """Have the rows pushed (see the module docstring for the two dispatch modes). Returns how
    many ids were handed over."""
    ids = list(dict.fromkeys(state_ids))
    if not ids:
        return 0
    if thredfi_settings.DISPATCH == "drain":
        wake(countdown=countdown)
        return len(ids)
    sent = 0
    for state_id in ids:
        if not send_task(SYNC_OBJECT_TASK, (state_id,), countdown=countdown):
            break  # the broker is down: the others would fail alike
        sent += 1
    return sent


class _Coalescer:
    """Per-process coalescing sender of drain tasks (see the module docstring)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wanted = threading.Event()
        self._pid: int | None = None  # the process whose thread sends (background mode)
        self._timer_pid: int | None = None  # the process whose trailing timer is set (inline)
        self._last = 0.0  # monotonic time of the last send (inline mode)
        self._trailing: threading.Timer | None = None

    def request(self) -> None:
        if thredfi_settings.DRAIN_KICK == "inline":
            self._inline(float(thredfi_settings.DRAIN_KICK_INTERVAL))
            return
        if self._pid != os.getpid():  # first use, or a forked child (threads don't survive fork)
            self._start()
        self._wanted.set()

    # -- inline mode: send now, or once at the end of the interval ------------------------

    def _inline(self, interval: float) -> None:
        now = time.monotonic()
        with self._lock:
            wait = self._last + interval - now
            if wait <= 0:
                self._last = now
            elif self._trailing is None or self._timer_pid != os.getpid():
                self._timer_pid = os.getpid()
                self._trailing = threading.Timer(wait, self._fire_trailing)
                self._trailing.daemon = True
                self._trailing.start()
                return
            else:
                return  # a trailing send is already scheduled
        send_task(DRAIN_TASK)

    def _fire_trailing(self) -> None:
        with self._lock:
            self._trailing = None
            self._last = time.monotonic()
        send_task(DRAIN_TASK)

    # -- background mode -----------------------------------------------------------------

    def _start(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
            self._wanted = threading.Event()
            thread = threading.Thread(target=self._run, name="thredfi-drain-kick", daemon=True)
            thread.start()

    def _run(self) -> None:
        wanted = self._wanted
        while True:
            wanted.wait()
            wanted.clear()
            send_task(DRAIN_TASK)
            # Requests during this pause become one more send when it ends.
            time.sleep(float(thredfi_settings.DRAIN_KICK_INTERVAL))

    def flush(self) -> None:
        """Send a drain task still waiting in this process (atexit: a script that saved and
        quit)."""
        if self._pid == os.getpid() and self._wanted.is_set():
            self._wanted.clear()
            send_task(DRAIN_TASK)

    def forget_last(self) -> None:
        """Forget when the last inline send was (tests start each story with a fresh interval)."""
        with self._lock:
            self._last = 0.0


_coalescer = _Coalescer()
atexit.register(_coalescer.flush)
