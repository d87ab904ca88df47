"""Pytest fixtures for the sync-engine tests (registered in tests/conftest.py).

- ``queue``: records the ``sync_object`` tasks the outbox publishes instead of sending them, and
  ``queue.drain()`` runs them the way a worker would (plain function calls, in order). A drain
  kick (a save's after-commit request) absorbs the saved objects' markers at once and
  publishes a task for each row that became pending, as a worker's drain would take them in.
- ``committed``: runs ``transaction.on_commit`` callbacks when the block ends, as a real commit
  would (pytest-django wraps each test in a transaction that never commits), then absorbs the
  markers the block's saves left, as the drain their kick wakes would.
- ``published``: the tasks a drain sends (a drain kick as its countdown, others by name)
  instead of sending them to the broker, for stories that call ``drain()`` themselves.
"""

from __future__ import annotations

from contextlib import contextmanager

import pytest


class TaskQueue:
    """The published sync tasks: ``ids`` (state ids in order), ``countdowns`` ({id: seconds})."""

    def __init__(self, capture_on_commit=None):
        self.capture_on_commit = capture_on_commit
        self.ids: list[int] = []
        self.countdowns: dict[int, float] = {}

    def publish(self, name, args=(), **options):
        """Stands in for Celery's ``send_task``: only the per-object tasks are queued."""
        if name != "thredfi_django.sync_object":
            return
        # A task with a countdown is not run by drain(): a worker would hold it until its ETA.
        if options.get("countdown"):
            self.countdowns[args[0]] = options["countdown"]
        else:
            self.ids.append(args[0])

    def clear(self) -> None:
        self.ids.clear()
        self.countdowns.clear()

    def drain(self, *, limit: int = 100, worker: str = "test-worker") -> list:
        """Run queued tasks (and those they enqueue) like a worker; returns the SyncResults."""
        from thredfi_django.engine.drain import sync_state

        results = []
        while self.ids and limit:
            limit -= 1
            state_id = self.ids.pop(0)
            # A worker runs in autocommit: on_commit callbacks (re-enqueues) fire at once.
            with self.capture_on_commit(execute=True):
                results.append(sync_state(state_id, worker=worker))
        return results


class PerObjectDispatch:
    """The settings, with DISPATCH = "per_object"."""

    def __init__(self, settings):
        self._settings = settings

    def __getattr__(self, name):
        return "per_object" if name == "DISPATCH" else getattr(self._settings, name)


@pytest.fixture
def queue(monkeypatch, django_capture_on_commit_callbacks):
    from thredfi_django.recording import wake

    # These tests follow each row's own task, whatever THREDFI a test overrides; the drain
    # path has tests of its own.
    monkeypatch.setattr(wake, "thredfi_settings", PerObjectDispatch(wake.thredfi_settings))
    monkeypatch.setattr(wake, "wake", _absorb_and_publish)
    tasks = TaskQueue(django_capture_on_commit_callbacks)
    monkeypatch.setattr(wake.current_app, "send_task", tasks.publish)
    return tasks


def _absorb_and_publish(*, countdown=None):
    """The ``queue`` fixture's drain kick: what the woken drain takes in gets its own task."""
    from thredfi_django.engine import absorb
    from thredfi_django.recording import wake

    wake.enqueue(
        [state_id for state_id, became_pending in absorb.absorb_states() if became_pending]
    )


@pytest.fixture
def published(monkeypatch):
    """Tasks sent (instead of sending them to the broker): a drain kick as its countdown, any
    other task by name."""
    from thredfi_django.recording import wake

    sent: list[float | str | None] = []

    def send_task(name, args=(), **options):
        sent.append(options.get("countdown") if name == wake.DRAIN_TASK else name)

    monkeypatch.setattr(wake.current_app, "send_task", send_task)
    return sent


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """``with committed(): ...`` runs the block's on_commit callbacks when it ends, then
    absorbs the markers its saves left (as the drain they kick would)."""
    from thredfi_django.engine import absorb

    @contextmanager
    def block():
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            yield callbacks
        absorb.absorb()

    return block
