"""The real-services pass really runs on real services.

PostgreSQL holds the test database, Redis carries tasks and cached tokens, a separate
``celery worker`` process runs tasks against the very database the test wrote to, and the fake
Thredfi answers over real HTTP. With CI=true (or THREDFI_REQUIRE_SERVICES=1) a service that is not
configured makes these tests fail rather than skip (tests/conftest.py).
"""

from __future__ import annotations

import os
import time
import uuid

import pytest
import redis
import requests
from django.contrib.auth import get_user_model
from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache
from django.db import connection

from tests.celery_app import app as celery_app
from tests.celery_app import record_worker_identity

pytestmark = pytest.mark.services


def wait_for(predicate, timeout=30.0, interval=0.1):
    """Poll ``predicate`` until it returns something truthy or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(interval)


@pytest.mark.django_db
def test_the_test_database_is_postgresql():
    assert connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_database(), version()")
        name, version = cursor.fetchone()
    assert version.startswith("PostgreSQL")
    assert name == connection.settings_dict["NAME"]
    assert name.startswith("test_"), "pytest-django's own database, never the developer's"


def test_the_redis_broker_answers():
    broker = redis.Redis.from_url(celery_app.conf.broker_url, socket_timeout=5)
    assert broker.ping() is True
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1)
        assert conn.transport.driver_type == "redis"


def test_the_token_cache_is_redis_shared_by_every_process(settings):
    assert isinstance(caches["default"], RedisCache), (
        "the real-services pass must share cached tokens between pytest and the workers: "
        "set CACHE_URL=rediscache://127.0.0.1:6379/14 (scripts/test.sh does)"
    )
    key = f"smoke-{uuid.uuid4().hex}"
    cache.set(key, "shared", 30)
    straight_from_redis = redis.Redis.from_url(settings.CACHES["default"]["LOCATION"])
    assert len(straight_from_redis.keys(f"*{key}")) == 1


def test_the_live_fake_answers_over_http(live_thredfi, settings):
    uuid_, key = settings.THREDFI["PARTNER_UUID"], settings.THREDFI["API_KEY"]
    assert live_thredfi.url.startswith("http://127.0.0.1:")

    token = requests.post(
        f"{live_thredfi.url}/v1/platform/oauth2/token/",
        auth=(uuid_, key),
        data={"grant_type": "client_credentials"},
        timeout=5,
    )
    wrong_key = requests.post(
        f"{live_thredfi.url}/v1/platform/oauth2/token/",
        auth=(uuid_, "not-the-key"),
        data={"grant_type": "client_credentials"},
        timeout=5,
    )

    assert token.status_code == 200
    assert token.json()["access_token"]
    assert wrong_key.status_code == 401


@pytest.mark.django_db(transaction=True)
def test_a_worker_process_runs_tasks_on_the_test_database(celery_worker_process):
    marker = f"worker-{uuid.uuid4().hex[:12]}"
    cache.set(marker, "seen-through-the-shared-cache@example.com", 60)

    record_worker_identity.delay(marker)

    users = get_user_model().objects
    assert wait_for(lambda: users.filter(username=marker).exists()), "the worker never ran it"
    row = users.get(username=marker)
    assert row.first_name == connection.settings_dict["NAME"]
    vendor, pid = row.last_name.split(":")
    assert vendor == "postgresql"
    assert int(pid) not in (os.getpid(), celery_worker_process.pid), "a prefork pool process ran it"
    assert row.email == "seen-through-the-shared-cache@example.com"


@pytest.mark.django_db(transaction=True)
def test_a_killed_worker_can_be_restarted(celery_worker_process):
    celery_worker_process.kill()
    assert not celery_worker_process.is_alive()

    celery_worker_process.restart()
    marker = f"restarted-{uuid.uuid4().hex[:12]}"
    record_worker_identity.delay(marker)

    assert wait_for(lambda: get_user_model().objects.filter(username=marker).exists())
