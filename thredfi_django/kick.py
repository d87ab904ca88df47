"""Wake a worker to drain pending work, without publishing a Celery task per save.

The database is the queue: pending sync-state rows (and, for saves, the host row's own
``thredfi_dirty`` marker) say what must be pushed. A Celery message only says "come and look".
:func:`request_drain` sends one ``drain_pending`` task after the current transaction commits,
and coalesces: a process publishes at most one kick per ``DRAIN_KICK_INTERVAL`` seconds,
however many transactions ask, plus one more at the end of the interval if any asked during it
(so the last save is never left waiting). A drain empties everything that is due, whoever
asked for it, so a coalesced kick loses nothing.

``THREDFI["DRAIN_KICK"]``:

- ``"background"`` (default): the after-commit callback only sets an event; a daemon thread of
  the process publishes. A save pays a few microseconds instead of a broker round trip. A
  process that exits before its thread published leaves the work in the database, where the
  sweep (``sweep_pending``, Celery beat) finds it; an ``atexit`` hook publishes a pending kick.
- ``"inline"``: publish in the after-commit callback itself (still coalesced within the
  interval). For tests that capture tasks, and for hosts that don't want a thread.

A broker that is down is logged and never fails the save: the rows stay pending for the sweep.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time

from django.db import transaction

logger = logging.getLogger("thredfi_django.sync")


def request_drain(*, using: str | None = None, countdown: float | None = None) -> None:
    """After the current transaction commits (at once in autocommit), make sure a drain task
    is on its way. ``countdown``: a retry's delay; such kicks are published as they come."""
    transaction.on_commit(lambda: wake(countdown=countdown), using=using)


def wake(*, countdown: float | None = None) -> None:
    """Make sure a drain task is on its way, now (the caller has committed)."""
    if countdown:
        publish(countdown=countdown)
    else:
        _kicker.request()


def publish(*, countdown: float | None = None) -> bool:
    """Send one ``drain_pending`` task now. Never raises; returns whether it was sent."""
    from .conf import thredfi_settings
    from .tasks import drain_pending

    options: dict = {"retry": False}  # broker down: fail at once, don't block the caller
    if thredfi_settings.CELERY_QUEUE:
        options["queue"] = thredfi_settings.CELERY_QUEUE
    if countdown:
        options["countdown"] = countdown
    try:
        drain_pending.apply_async((), **options)
        return True
    except Exception as err:  # broker down / misconfigured: the save must still succeed
        logger.warning(
            "Could not publish a Thredfi drain task (%s: %s); the pending rows stay in the "
            "database and the sweep (sweep_pending / manage.py thredfi_sweep) will pick them up.",
            type(err).__name__,
            err,
        )
        return False


class _Kicker:
    """Per-process coalescing publisher (see the module docstring)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wanted = threading.Event()
        self._pid: int | None = None  # the process whose thread publishes (background mode)
        self._timer_pid: int | None = None  # the process whose trailing timer is set (inline)
        self._last = 0.0  # monotonic time of the last publish (inline mode)
        self._trailing: threading.Timer | None = None

    def request(self) -> None:
        from .conf import thredfi_settings

        if thredfi_settings.DRAIN_KICK == "inline":
            self._inline(float(thredfi_settings.DRAIN_KICK_INTERVAL))
            return
        if self._pid != os.getpid():  # first use, or a forked child (threads don't survive fork)
            self._start()
        self._wanted.set()

    # -- inline mode: publish now, or once at the end of the interval ---------------------

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
                return  # a trailing publish is already scheduled
        publish()

    def _fire_trailing(self) -> None:
        with self._lock:
            self._trailing = None
            self._last = time.monotonic()
        publish()

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
        from .conf import thredfi_settings

        wanted = self._wanted
        while True:
            wanted.wait()
            wanted.clear()
            publish()
            # Requests during this pause become one more publish when it ends.
            time.sleep(float(thredfi_settings.DRAIN_KICK_INTERVAL))

    def flush(self) -> None:
        """Publish a kick still waiting in this process (atexit: a script that saved and quit)."""
        if self._pid == os.getpid() and self._wanted.is_set():
            self._wanted.clear()
            publish()


_kicker = _Kicker()
atexit.register(_kicker.flush)
