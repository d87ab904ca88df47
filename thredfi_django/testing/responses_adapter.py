"""``fake.mock()``: route ``requests`` calls under the fake's base URL to ``fake.handle``.

Built on ``responses.RequestsMock`` (not asserting that every route fired). Requests to any
other URL get responses' default: ``requests.exceptions.ConnectionError``. A dropped connection
(``drop`` fault) also raises ``ConnectionError`` — after the write was applied.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import requests
import responses

from .errors import ConnectionDropped

if TYPE_CHECKING:
    from .fake import FakeThredfi

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")


@contextmanager
def mocked(fake: FakeThredfi) -> Iterator[responses.RequestsMock]:
    base = fake.base_url
    url = re.compile("^" + re.escape(base) + r"(?:[/?].*)?$")

    def callback(request: requests.PreparedRequest):
        parts = urlsplit(request.url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        body = request.body
        if body is not None and not isinstance(body, (bytes, str)):
            body = b"".join(chunk if isinstance(chunk, bytes) else chunk.encode() for chunk in body)
        try:
            status, headers, content = fake.handle(
                request.method, target, dict(request.headers), body or b""
            )
        except ConnectionDropped as exc:
            raise requests.exceptions.ConnectionError(str(exc), request=request) from None
        return status, headers, content

    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        for method in METHODS:
            rsps.add_callback(method, url, callback=callback, content_type=None)
        yield rsps
