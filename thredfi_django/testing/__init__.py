"""A fake Thredfi for tests, demos and benchmarks: a stateful in-memory emulator of the API.

Like stripe-mock or moto, it keeps records, checks tokens and scopes, enforces the documented
ordering rules, is idempotent on ``external_id`` and ``Idempotency-Key``, paginates, and can
inject faults::

    from thredfi_django.testing import FakeThredfi

    fake = FakeThredfi(base_url="https://sandbox.thredfi.com", token_ttl=3600, clock=time.time)
    fake.add_partner(PARTNER_UUID, API_KEY)
    business = fake.add_business(PARTNER_UUID, legal_name="Acme Ltd")  # seed without HTTP
    with fake.mock():                      # requests to base_url go to the fake (responses)
        ...
    with fake.serve() as server:           # or over real HTTP on 127.0.0.1: server.url
        ...
    fake.fail_next(status=503)             # the next request fails (429, "drop", any 4xx/5xx)
    fake.set_faults(server_error_rate=0.1, rate_limit_rate=0.05, drop_after_apply_rate=0.01,
                    slow_rate=0.1, slow_seconds=0.2, seed=1, paths=["/invoices/"])
    fake.expire_tokens()                   # every issued token now answers 401
    fake.duplicate_mode = "409"            # repeated external_id: 409 instead of 200 + existing
    fake.duplicate_mode = "duplicate"      # ... or a 2nd record where no Idempotency-Key is
                                           # documented (refunds, bills, bill payments, ...)
    fake.line_schema = "reference"         # lines: unit_price + account_identifier
    fake.pagination_style = "next"         # {count, next, previous, results} envelope
    fake.records("invoices"); fake.count_by_external_id("payments"); fake.stats
    fake.remove_record("customers", customer_id); fake.reset()
    fake.documents("invoices", invoice_id)  # PDFs received: document_type, file_name, content

``status, headers, body = fake.handle(method, path, headers, body)`` is the core; it needs
neither Django nor sockets.

In your own pytest suite, enable the fixtures ``thredfi_fake`` (in-process) and
``thredfi_fake_server`` (real HTTP) with, in ``conftest.py``::

    pytest_plugins = ["thredfi_django.testing.pytest_plugin"]

Outside Python: ``python -m thredfi_django.testing.server --port 8765 --partner-uuid U
--api-key K`` or ``manage.py thredfi_fake_server`` (control endpoints: ``/__fake__/``, see
:mod:`thredfi_django.testing.control`).
"""

from .errors import ConnectionDropped
from .fake import FakeThredfi, Stats

__all__ = ["ConnectionDropped", "FakeThredfi", "Stats"]
