"""The fake over real HTTP: a threaded HTTP/1.1 server (keep-alive) around ``FakeThredfi.handle``.

Run it on its own (no Django needed)::

    python -m thredfi_django.testing.server --host 127.0.0.1 --port 8765 \\
        --partner-uuid U --api-key K

It binds to loopback only unless ``--allow-remote`` is given. Control endpoints live under
``/__fake__/`` (see :mod:`thredfi_django.testing.control`).
"""

from __future__ import annotations

import argparse
import logging
import secrets
import signal
import socket
import sys
import threading
import weakref
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from ..loopback import is_loopback
from .control import CONFIG, CONTROL_HEADER
from .errors import ConnectionDropped

if TYPE_CHECKING:
    from .fake import FakeThredfi

logger = logging.getLogger("thredfi_django.testing")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive; every answer carries Content-Length
    disable_nagle_algorithm = True
    server: _Server

    def _answer(self) -> None:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            body = self._read_chunked()  # requests sends generator bodies this way
        else:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length > 0 else b""
        fake = self.server.fake
        try:
            status, headers, content = fake.handle(
                self.command, self.path, dict(self.headers.items()), body,
                base_url=self.server.url, client_host=self.client_address[0],
                control_token=self.server.control_token,
            )  # fmt: skip
        except ConnectionDropped:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(content)))
        self.end_headers_and_body(b"" if self.command == "HEAD" else content)

    def _read_chunked(self) -> bytes:
        parts = []
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline().strip():  # trailers, up to the blank line
                    pass
                return b"".join(parts)
            parts.append(self.rfile.read(size))
            self.rfile.readline()  # the CRLF after each chunk

    def end_headers_and_body(self, content: bytes) -> None:
        # One send for headers and body: two small writes on a keep-alive connection meet the
        # client's delayed ACK (Nagle) and cost ~40 ms per request.
        self._headers_buffer.append(b"\r\n")
        self.wfile.write(b"".join(self._headers_buffer) + content)
        self._headers_buffer = []

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _answer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        logger.debug("%s %s", self.address_string(), format % args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default listen backlog of 5 resets connections when a burst of clients
    # (web server + worker processes + threads) connects at once.
    request_queue_size = 256
    fake: FakeThredfi
    url: str
    control_token: str | None = None
    open_sockets: weakref.WeakSet
    #: TCP connections accepted so far (keep-alive clients reuse one).
    connections = 0

    def get_request(self):
        request = super().get_request()
        self.connections += 1
        self.open_sockets.add(request[0])
        return request

    def shutdown_request(self, request) -> None:
        self.open_sockets.discard(request)
        super().shutdown_request(request)

    def close_open_connections(self) -> None:
        """Hang up on keep-alive clients, so nothing is answered after ``stop()``."""
        for sock in list(self.open_sockets):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class FakeServer:
    """A running fake over HTTP. ``url``, ``stop()``; a context manager that stops on exit."""

    def __init__(self, fake: FakeThredfi, host: str = "127.0.0.1", port: int = 0,
                 allow_remote: bool = False):  # fmt: skip
        if not allow_remote and not is_loopback(host):
            raise ValueError(
                f"refusing to bind the fake Thredfi to {host!r}: only loopback addresses are "
                "allowed unless allow_remote=True (--allow-remote)"
            )
        self.fake = fake
        self.httpd = _Server((host, port), _Handler)
        self.httpd.open_sockets = weakref.WeakSet()
        self.httpd.fake = fake
        # Reachable from other machines: control requests must prove they come from whoever
        # started the fake.
        self.control_token = secrets.token_urlsafe(16) if allow_remote else None
        self.httpd.control_token = self.control_token
        self.host, self.port = self.httpd.server_address[:2]
        shown = f"[{self.host}]" if ":" in str(self.host) else self.host
        self.url = self.httpd.url = f"http://{shown}:{self.port}"
        self._thread: threading.Thread | None = None

    @property
    def connections(self) -> int:
        """TCP connections accepted so far (shows whether clients keep connections alive)."""
        return self.httpd.connections

    def start(self) -> FakeServer:
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1},
            name=f"fake-thredfi:{self.port}", daemon=True,
        )  # fmt: skip
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.httpd.close_open_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted (the command-line entry point)."""
        try:
            self.httpd.serve_forever(poll_interval=0.2)
        finally:
            self.httpd.server_close()

    def __enter__(self) -> FakeServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared by ``python -m ...testing.server`` and ``manage.py thredfi_fake_server``."""
    parser.add_argument("--host", default="127.0.0.1", help="bind address (loopback only)")
    parser.add_argument("--port", type=int, default=8765, help="port (0 = any free port)")
    parser.add_argument("--partner-uuid", help="partner UUID the token endpoint accepts")
    parser.add_argument("--api-key", help="that partner's API key")
    parser.add_argument("--allow-remote", action="store_true",
                        help="allow binding to a non-loopback address")  # fmt: skip
    parser.add_argument("--token-ttl", type=int, default=3600, help="token lifetime in seconds")
    for name, choices in CONFIG.items():  # the settings /__fake__/config also takes
        parser.add_argument(f"--{name.replace('_', '-')}", choices=choices, default=choices[0])


def run(options: dict[str, Any], out=sys.stdout) -> None:
    """Build a fake from parsed options and serve until SIGINT/SIGTERM."""
    from .fake import FakeThredfi

    fake = FakeThredfi(token_ttl=options["token_ttl"])
    for name in CONFIG:
        setattr(fake, name, options[name])
    if options.get("partner_uuid") and options.get("api_key"):
        fake.add_partner(options["partner_uuid"], options["api_key"])
    server = FakeServer(fake, options["host"], options["port"], options["allow_remote"])
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.httpd.shutdown).start())
    out.write(f"Fake Thredfi listening on {server.url} (control: {server.url}/__fake__/stats)\n")
    if server.control_token:
        out.write(f"Control requests need the header {CONTROL_HEADER}: {server.control_token}\n")
    out.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m thredfi_django.testing.server", description="Run the fake Thredfi API."
    )
    add_arguments(parser)
    options = vars(parser.parse_args(argv))
    try:
        run(options)
    except ValueError as exc:
        parser.error(str(exc))


if __name__ == "__main__":
    main()
