"""Benchmark settings: the test settings on PostgreSQL + Redis, plus the unsynced twin model.

Environment (defaults in brackets): DATABASE_URL [postgres://postgres@127.0.0.1:5432/thredfi_bench;
the benchmarks create and drop test_<name>], CELERY_BROKER_URL [redis://127.0.0.1:6379/13],
CACHE_URL [rediscache://127.0.0.1:6379/13].
"""

import os

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/thredfi_bench")
os.environ.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/13")
os.environ.setdefault("CACHE_URL", "rediscache://127.0.0.1:6379/13")

from tests.settings import *  # noqa: E402, F403
from tests.settings import INSTALLED_APPS, LOGGING  # noqa: E402

INSTALLED_APPS = [*INSTALLED_APPS, "benchmarks.benchapp"]
LOGGING = {**LOGGING, "loggers": {"thredfi_django": {"handlers": ["console"], "level": "ERROR"}}}
