"""Shared fixtures. Tests marked ``services`` need real PostgreSQL, Redis and celery workers."""

from __future__ import annotations

import os

import pytest
from django.conf import settings

pytest_plugins = [
    "thredfi_django.testing.pytest_plugin",  # thredfi_fake, thredfi_fake_server
    "tests.fixtures.real_services",  # live_thredfi, celery_worker_process
    "tests.testapp.engine_fixtures",  # queue, committed, published (sync-engine tests)
    "tests.fixtures.loopback_only",  # no test reaches beyond 127.0.0.1
]


def _services_problem() -> str | None:
    db = settings.DATABASES["default"]["ENGINE"]
    if "postgresql" not in db:
        return f"DATABASE_URL does not point at PostgreSQL (engine {db})"
    if not str(settings.CELERY_BROKER_URL).startswith("redis://"):
        return f"CELERY_BROKER_URL is {settings.CELERY_BROKER_URL!r}, not redis://"
    return None


def pytest_collection_modifyitems(config, items):
    """``services`` tests run only on real services; with CI=true a missing one is a failure."""
    problem = _services_problem()
    if problem is None:
        return
    strict = os.environ.get("CI") == "true" or os.environ.get("THREDFI_REQUIRE_SERVICES") == "1"
    for item in items:
        if "services" in item.keywords:
            if strict:
                item.stash[_MISSING_SERVICE] = problem
            else:
                item.add_marker(pytest.mark.skip(reason=f"needs real services: {problem}"))


# A usefixtures marker added during collection is never set up (pytest computes fixtures earlier),
# so the failure is raised from the setup hook instead.
_MISSING_SERVICE = pytest.StashKey[str]()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    problem = item.stash.get(_MISSING_SERVICE, None)
    if problem:
        pytest.fail(f"this test needs real services and CI=true: {problem}", pytrace=False)
