"""pytest fixtures for projects using thredfi-django (and for this project's own suite).

Enable in ``conftest.py``::

    pytest_plugins = ["thredfi_django.testing.pytest_plugin"]

- ``thredfi_fake``: a :class:`~thredfi_django.testing.FakeThredfi` at ``THREDFI``'s base URL,
  knowing the partner from ``THREDFI["PARTNER_UUID"]``/``["API_KEY"]``, with every ``requests``
  call under that URL routed to it for the test (``fake.mock()``). Any other URL raises
  ``ConnectionError``. Cached tokens from earlier tests are cleared first.
- ``thredfi_fake_server``: the same fake over real HTTP on 127.0.0.1 (a free port);
  ``THREDFI["BASE_URL"]`` points at it for the test. Yields the fake; ``fake.url`` is the
  server's URL. Needs pytest-django's ``settings`` fixture.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .fake import FakeThredfi


def _clear_token_cache() -> None:
    """Drop cached tokens (and charts of accounts) so one test's never leak into the next."""
    from django.core.cache import caches

    from thredfi_django import ledger
    from thredfi_django.client.shared import reset_client
    from thredfi_django.conf import thredfi_settings

    reset_client()  # the shared client also remembers its last tokens in memory
    ledger.forget_all()

    cache = caches[thredfi_settings.TOKEN_CACHE]
    try:
        from django.core.cache.backends.redis import RedisCache
    except ImportError:  # pragma: no cover - Django without the redis backend
        RedisCache = ()  # noqa: N806
    if isinstance(cache, RedisCache):
        # A Redis database may be shared with a Celery broker: delete only this cache's keys.
        client = cache._cache.get_client(write=True)
        keys = list(client.scan_iter(match=f"{cache.key_prefix}:*"))
        if keys:
            client.delete(*keys)
    else:
        cache.clear()


def _register_partner(fake: FakeThredfi) -> None:
    from thredfi_django.conf import thredfi_settings

    partner, key = thredfi_settings.PARTNER_UUID, thredfi_settings.API_KEY
    if partner and key:
        fake.add_partner(partner, key)


@pytest.fixture
def thredfi_fake() -> Iterator[FakeThredfi]:
    """An empty fake Thredfi answering every ``requests`` call to ``THREDFI``'s base URL."""
    from thredfi_django.conf import thredfi_settings

    fake = FakeThredfi(base_url=thredfi_settings.base_url)
    _register_partner(fake)
    _clear_token_cache()
    with fake.mock():
        yield fake
    _clear_token_cache()


@pytest.fixture(scope="session")
def _thredfi_fake_http() -> Iterator[tuple[FakeThredfi, object]]:
    fake = FakeThredfi()
    server = fake.serve("127.0.0.1", port=0)
    try:
        yield fake, server
    finally:
        server.stop()


@pytest.fixture
def thredfi_fake_server(_thredfi_fake_http, settings) -> Iterator[FakeThredfi]:
    """The fake over real HTTP on 127.0.0.1, empty; ``THREDFI["BASE_URL"]`` points at it."""
    fake, server = _thredfi_fake_http
    fake.reset()
    fake.base_url = server.url
    fake.url = server.url
    settings.THREDFI = {**getattr(settings, "THREDFI", {}), "BASE_URL": server.url}
    _register_partner(fake)
    _clear_token_cache()
    yield fake
    _clear_token_cache()
