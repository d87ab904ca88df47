"""The test suite's Celery app, laid out like a host project's ``celery.py``.

Run a worker against it with::

    DJANGO_SETTINGS_MODULE=tests.settings celery -A tests.celery_app worker

The library itself only defines ``shared_task``\\s; this app is what binds them to the broker and
queue named by tests/settings.py (``CELERY_*``). Importing this module makes it the current app, so
``task.delay()`` in the pytest process publishes to the same broker and queue the worker reads.

``record_worker_identity`` is a test-only task: the real-services smoke test asks a worker process
to run it and then reads the row it wrote, which proves the worker shares the test database.
"""

from __future__ import annotations

import os

from celery import Celery, shared_task

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

app = Celery("tests")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@shared_task(name="tests.record_worker_identity")
def record_worker_identity(marker: str) -> str:
    """Write a user row named ``marker`` saying which process and database ran this task.

    Its email is what the cache holds under ``marker``: the test put it there from its own process.
    """
    from django.contrib.auth import get_user_model
    from django.core.cache import cache
    from django.db import connection

    get_user_model().objects.create(
        username=marker,
        first_name=str(connection.settings_dict["NAME"])[:150],
        last_name=f"{connection.vendor}:{os.getpid()}",
        email=cache.get(marker) or "",
    )
    return marker
