"""A fake Thredfi for tests, demos and benchmarks: a stateful in-memory emulator of the API.

Like stripe-mock or moto, it keeps records, checks tokens and scopes, validates ordering rules,
is idempotent on ``external_id`` and ``Idempotency-Key``, paginates, and can inject faults::

    from thredfi_django.testing import FakeThredfi

    fake = FakeThredfi(base_url="https://sandbox.thredfi.com")
    fake.add_partner(PARTNER_UUID, API_KEY)
    with fake.mock():                      # requests to base_url go to the fake (responses)
        ...
    with fake.serve() as server:           # or over real HTTP on 127.0.0.1: server.url
        ...
    fake.fail_next(status=503)             # the next request fails
    fake.set_faults(server_error_rate=0.1, rate_limit_rate=0.05, seed=1)
    fake.records("invoices"); fake.count_by_external_id("payments"); fake.stats

In your own pytest suite, enable the fixtures ``thredfi_fake`` (in-process) and
``thredfi_fake_server`` (real HTTP) with, in ``conftest.py``::

    pytest_plugins = ["thredfi_django.testing.pytest_plugin"]

Outside Python: ``python -m thredfi_django.testing.server --port 8765 --partner-uuid U
--api-key K`` or ``manage.py thredfi_fake_server``.
"""

from .errors import ConnectionDropped
from .fake import FakeThredfi, Stats

__all__ = ["ConnectionDropped", "FakeThredfi", "Stats"]
