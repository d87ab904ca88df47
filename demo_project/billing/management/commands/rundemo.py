"""``manage.py rundemo``: the whole demo in one terminal; Ctrl-C stops all of it.

Starts, each in its own process group, killed by the kernel if the supervisor dies:
- the fake Thredfi server on 127.0.0.1 (unless THREDFI_BASE_URL points elsewhere),
- a Celery worker and Celery beat (which runs the periodic sweep),
- the web server (``runserver``),
then seeds sample data, creates an admin login and prints the URLs. One demo per var/
directory: a second one is refused (it would share the database and the broker queue).
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from demo_project.billing.models import Account, Customer, Invoice, Payment
from thredfi_django.models import SyncState, SyncStatus
from thredfi_django.recording.resync import request_sync

from ._processes import VarDirBusy, die_with_parent, lock_var_dir, port_in_use_message

#: Seconds a child gets to exit after SIGTERM before it is killed.
STOP_TIMEOUT = 10.0


class Stop(Exception):
    """Raised by the SIGINT/SIGTERM handler to leave the supervision loop."""


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


class Child:
    """One supervised process, its own process group, its output prefixed with its name."""

    def __init__(self, name: str, argv: list[str], write, ready_text: str = "") -> None:
        self.name = name
        self.ready_text = ready_text
        #: Set once a line containing ``ready_text`` was printed.
        self.ready = threading.Event()
        self.proc = subprocess.Popen(
            argv,
            cwd=settings.BASE_DIR,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own process group: we signal the group, never a name
            preexec_fn=die_with_parent(),  # dies with the supervisor, even after kill -9
            text=True,
            bufsize=1,
        )
        self.pid = self.proc.pid
        self._pump = threading.Thread(target=self._copy, args=(write,), daemon=True)
        self._pump.start()

    def _copy(self, write) -> None:
        for line in self.proc.stdout:
            write(f"[{self.name}] {line}", ending="")
            if self.ready_text and self.ready_text in line:
                self.ready.set()

    def signal_group(self, sig: int) -> None:
        try:
            os.killpg(self.pid, sig)
        except ProcessLookupError:
            pass


class Command(BaseCommand):
    help = (
        "Run the demo: fake Thredfi server, Celery worker and beat, and the web server, with "
        "sample data and an admin login. Ctrl-C stops everything."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--port", type=int, default=int(os.environ.get("DEMO_PORT", 8000)),
            help="Web server port on 127.0.0.1 (default 8000, or $DEMO_PORT).",
        )  # fmt: skip
        parser.add_argument(
            "--username", default="admin", help="Admin username to create (default admin)."
        )
        parser.add_argument(
            "--password", default=os.environ.get("DEMO_ADMIN_PASSWORD"),
            help="Admin password (default: $DEMO_ADMIN_PASSWORD, else a new random one).",
        )  # fmt: skip
        parser.add_argument("--no-seed", action="store_true", help="Do not create sample data.")

    def handle(self, *args, port: int, username: str, password: str | None, no_seed: bool, **o):
        self.children: list[Child] = []
        try:
            lock = lock_var_dir(settings.VAR_DIR, port)
        except VarDirBusy as err:
            raise CommandError(str(err)) from None
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            self._run(port, username, password or secrets.token_urlsafe(9), no_seed)
        except Stop:
            self.stdout.write("\nStopping the demo…")
        finally:
            self._stop_children()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            lock.close()

    def _on_signal(self, signum, frame) -> None:
        raise Stop()

    # -- start-up ----------------------------------------------------------------------------

    def _run(self, port: int, username: str, password: str, no_seed: bool) -> None:
        if port_open("127.0.0.1", port):
            raise CommandError(port_in_use_message(port, "web server", "--port or DEMO_PORT"))
        call_command("migrate", interactive=False, verbosity=0)
        py = sys.executable
        thredfi = settings.THREDFI
        if settings.DEMO_USE_FAKE_THREDFI:
            host, fake_port = settings.DEMO_FAKE_HOST, settings.DEMO_FAKE_PORT
            if port_open(host, fake_port):
                raise CommandError(port_in_use_message(fake_port, "fake Thredfi", "DEMO_FAKE_PORT"))
            self._start("thredfi", [
                py, "-m", "thredfi_django.testing.server", "--host", host,
                "--port", str(fake_port), "--partner-uuid", thredfi["PARTNER_UUID"],
                "--api-key", thredfi["API_KEY"],
            ])  # fmt: skip
            self._wait_for_port(host, fake_port, "the fake Thredfi server")
            self._forget_remote_ids()
        else:
            # A real Thredfi: find out now, in plain words, if the credentials or URL are wrong.
            try:
                call_command("thredfi_check", stdout=self.stdout)
            except CommandError as err:
                raise CommandError(
                    f"{err} Fix THREDFI_PARTNER_UUID / THREDFI_API_KEY / THREDFI_BASE_URL, or "
                    "unset THREDFI_BASE_URL to use the local fake Thredfi."
                ) from err
        if not no_seed:
            call_command("seed_demo", stdout=self.stdout)
        self._ensure_admin(username, password)

        celery = [py, "-m", "celery", "-A", "demo_project"]
        worker = self._start("worker", [
            *celery, "worker", "--pool=solo", "--loglevel=INFO", "--without-gossip",
            "--without-mingle", "--hostname=demo@%h",
        ], ready_text=" ready.")  # the worker logs "demo@<host> ready."  # fmt: skip
        self._start("beat", [
            *celery, "beat", "--loglevel=INFO",
            "--schedule", settings.CELERY_BEAT_SCHEDULE_FILENAME,
        ])  # fmt: skip
        self._start("web", [py, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"])
        self._wait_for_port("127.0.0.1", port, "the web server")
        self._wait_until(worker.ready.is_set, "the Celery worker to be ready")
        self._banner(port, username, password)

        while True:
            for child in self.children:
                if child.proc.poll() is not None:
                    raise CommandError(
                        f"{child.name} exited unexpectedly (exit code {child.proc.returncode}); "
                        "stopping the demo. Its output is above."
                    )
            time.sleep(0.2)

    def _start(self, name: str, argv: list[str], ready_text: str = "") -> Child:
        child = Child(name, argv, self.stdout.write, ready_text)
        self.children.append(child)
        self.stdout.write(f"started {name} (pid {child.pid})")
        return child

    def _wait_for_port(self, host: str, port: int, what: str) -> None:
        self._wait_until(lambda: port_open(host, port), f"{what} on {host}:{port}")

    def _wait_until(self, condition, what: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            dead = [c for c in self.children if c.proc.poll() is not None]
            if dead:
                raise CommandError(f"{dead[0].name} exited while waiting for {what}.")
            if time.monotonic() > deadline:
                raise CommandError(f"Gave up waiting {timeout:.0f} s for {what}.")
            time.sleep(0.1)

    def _forget_remote_ids(self) -> None:
        """The fake server starts empty each run: drop the Thredfi IDs it no longer knows and
        push everything again (external_ids are stable, so this creates no duplicates)."""
        for model in (Account, Customer, Invoice, Payment):
            model.objects.exclude(thredfi_id=None).update(thredfi_id=None)
        states = SyncState.objects.all()
        states.update(
            remote_id=None, status=SyncStatus.PENDING, synced_version=0, attempts=0,
            next_attempt_at=None, lease_until=None, lease_owner="", blocked_on=None,
        )  # fmt: skip
        count = request_sync(states)
        if count:
            self.stdout.write(f"Fresh fake Thredfi: re-sending {count} existing object(s).")

    def _ensure_admin(self, username: str, password: str) -> None:
        user, _ = get_user_model().objects.get_or_create(username=username)
        user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()
        user.accounts.set(Account.objects.all())

    def _banner(self, port: int, username: str, password: str) -> None:
        base = f"http://127.0.0.1:{port}"
        where = "fake, in-process state" if settings.DEMO_USE_FAKE_THREDFI else "real"
        db = settings.DATABASES["default"]
        lines = [
            "",
            "=" * 72,
            f"  Admin:        {base}/admin/",
            f"  Login:        username {username}   password {password}",
            f"  Token API:    POST {base}/thredfi/token/  (the embedded widget's getToken;"
            f" try it on {base}/accounting/)",
            f"  Thredfi:      {settings.THREDFI['BASE_URL']} ({where})",
            f"  Database:     {db['ENGINE'].rsplit('.', 1)[-1]} {Path(str(db['NAME'])).name}",
            f"  Broker:       {settings.CELERY_BROKER_URL.split('@')[-1]}",
            "  Create an invoice in the admin: its Thredfi status turns to synced a moment later.",
            "  Ctrl-C stops everything.",
            "=" * 72,
            "",
        ]
        self.stdout.write("\n".join(lines))

    # -- shutdown ----------------------------------------------------------------------------

    def _stop_children(self) -> None:
        """SIGTERM every child's process group (web first, fake Thredfi last), wait, then
        SIGKILL whatever is left. Further Ctrl-Cs are ignored meanwhile."""
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)
        for child in reversed(self.children):
            child.signal_group(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for child in reversed(self.children):
            try:
                child.proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                self.stdout.write(f"{child.name} did not stop in time; killing it.")
            child.signal_group(signal.SIGKILL)  # also reaps grandchildren left in the group
            child.proc.wait()
            self.stdout.write(f"stopped {child.name} (pid {child.pid})")
        self.children = []
