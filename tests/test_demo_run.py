"""The README's demo, run for real: `manage.py rundemo` (what scripts/demo.sh execs) starts the
fake Thredfi server, a Celery worker, beat and the web server; an invoice created through the
admin form is synced by the worker; Ctrl-C (SIGINT) stops every child.

Needs nothing but SQLite and the filesystem broker (the demo's defaults) in a temporary
directory, so it runs in both test passes; it ignores the suite's DATABASE_URL/broker.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
#: Generous: four Python processes start on a busy 2-core machine.
STARTUP_TIMEOUT = 90
SYNC_TIMEOUT = 30
STOP_TIMEOUT = 30


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(condition, timeout: float, what: str, output):
    """Poll ``condition`` until it returns something truthy (bounded; no fixed sleeps)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout} s waiting for {what}; demo output:\n{output()}")


class Demo:
    """`manage.py rundemo` in a subprocess, its output collected line by line."""

    def __init__(self, tmp_path: Path, port: int | None = None, **extra_env: str):
        self.port, self.fake_port = port or free_port(), free_port()
        self.password = "demo-test-password"
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("THREDFI_", "DATABASE_URL", "CELERY_", "CACHE_URL", "DJANGO_"))
        }
        env.update(
            DJANGO_SETTINGS_MODULE="demo_project.settings",
            DEMO_VAR_DIR=str(tmp_path),
            DEMO_FAKE_PORT=str(self.fake_port),
            DEMO_ADMIN_PASSWORD=self.password,
            PYTHONUNBUFFERED="1",
            **extra_env,
        )
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, "manage.py", "rundemo", "--port", str(self.port)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        threading.Thread(target=self._read, daemon=True).start()
        self.base = f"http://127.0.0.1:{self.port}"

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def output(self) -> str:
        return "\n".join(self.lines[-200:])

    def wait_until_started(self) -> None:
        """Until the supervisor prints its banner: every child is up."""
        wait_for(
            lambda: any("Ctrl-C stops everything" in line for line in self.lines),
            STARTUP_TIMEOUT,
            "the demo banner",
            self.output,
        )

    def child_pids(self) -> dict[str, int]:
        found = (re.match(r"started (\w+) \(pid (\d+)\)", line) for line in list(self.lines))
        return {m.group(1): int(m.group(2)) for m in found if m}

    def kill_everything(self) -> None:
        """Cleanup after a failed test: no process may outlive it."""
        for pid in [*self.child_pids().values(), self.proc.pid]:
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        self.proc.wait(timeout=10)


def alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


def processes_mentioning(text: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if text in cmdline and alive(int(entry.name)):
                found.append(f"{entry.name}: {cmdline}")
    return found


@pytest.mark.skipif(not Path("/proc").exists(), reason="checks child processes via /proc")
def test_demo_syncs_an_invoice_created_in_the_admin_and_stops_cleanly(tmp_path):
    demo = Demo(tmp_path)
    try:
        demo.wait_until_started()
        assert f"username admin   password {demo.password}" in demo.output()
        assert set(demo.child_pids()) == {"thredfi", "worker", "beat", "web"}

        # Log in to the admin as a person would.
        browser = requests.Session()
        browser.get(f"{demo.base}/admin/login/", timeout=10)
        response = browser.post(
            f"{demo.base}/admin/login/?next=/admin/",
            data={
                "username": "admin",
                "password": demo.password,
                "csrfmiddlewaretoken": browser.cookies["csrftoken"],
                "next": "/admin/",
            },
            timeout=10,
        )
        assert response.url == f"{demo.base}/admin/", "login failed"

        # Create an invoice with one line through the admin's add form.
        add_url = f"{demo.base}/admin/billing/invoice/add/"
        browser.get(add_url, timeout=10)
        today = dt.date.today()
        response = browser.post(
            add_url,
            data={
                "csrfmiddlewaretoken": browser.cookies["csrftoken"],
                "account": "1",  # Acme Bakery Ltd, seeded
                "customer": "1",  # its customer Jane Doe
                "number": "DEMO-TEST-1",
                "issued_on": today.isoformat(),
                "due_on": (today + dt.timedelta(days=14)).isoformat(),
                "memo": "",
                "lines-TOTAL_FORMS": "1",
                "lines-INITIAL_FORMS": "0",
                "lines-MIN_NUM_FORMS": "0",
                "lines-MAX_NUM_FORMS": "1000",
                "lines-0-description": "Birthday cake",
                "lines-0-quantity": "2",
                "lines-0-unit_price": "35.50",
                "lines-0-account_code": "4000",
                "_save": "Save",
            },
            timeout=10,
        )
        assert response.url.endswith("/admin/billing/invoice/"), response.text[:3000]

        # A moment later the worker has pushed it: Thredfi has it, with our line total...
        def remote_invoice():
            records = requests.get(
                f"http://127.0.0.1:{demo.fake_port}/__fake__/records/invoices", timeout=5
            ).json()
            return next((r for r in records if r["invoice_number"] == "DEMO-TEST-1"), None)

        remote = wait_for(remote_invoice, SYNC_TIMEOUT, "the invoice in Thredfi", demo.output)
        assert remote["total_amount"] == 7100

        # ...and the admin shows it synced, with its Thredfi ID.
        changelist = f"{demo.base}/admin/billing/invoice/?q=DEMO-TEST-1"
        wait_for(
            lambda: 'data-thredfi-status="synced"' in browser.get(changelist, timeout=10).text,
            SYNC_TIMEOUT,
            "the synced badge",
            demo.output,
        )
        change_page = browser.get(changelist, timeout=10).text
        invoice_pk = re.search(r'href="/admin/billing/invoice/(\d+)/change/', change_page)
        detail = browser.get(
            f"{demo.base}/admin/billing/invoice/{invoice_pk.group(1)}/change/", timeout=10
        )
        assert remote["id"] in detail.text

        # The widget's token endpoint answers the logged-in user with a business token.
        token = browser.post(
            f"{demo.base}/thredfi/token/",
            headers={"X-CSRFToken": browser.cookies["csrftoken"], "Referer": demo.base},
            timeout=10,
        )
        assert token.status_code == 200, token.text
        assert token.json()["business_id"] == remote["business_id"]

        # Ctrl-C: every child stops, nothing is left behind.
        children = demo.child_pids()
        os.kill(demo.proc.pid, signal.SIGINT)
        assert demo.proc.wait(timeout=STOP_TIMEOUT) == 0, demo.output()
        for name, pid in children.items():
            assert not alive(pid), f"{name} (pid {pid}) is still running"
        assert processes_mentioning(str(tmp_path)) == []
        assert processes_mentioning(f"127.0.0.1:{demo.port}") == []
        assert "stopped thredfi" in demo.output()
    finally:
        if demo.proc.poll() is None or any(alive(p) for p in demo.child_pids().values()):
            demo.kill_everything()


def test_demo_against_an_unreachable_thredfi_stops_at_once_and_says_why(tmp_path):
    demo = Demo(tmp_path, THREDFI_BASE_URL="http://127.0.0.1:9")  # real-sandbox mode, no fake
    try:
        assert demo.proc.wait(timeout=STARTUP_TIMEOUT) == 1
        wait_for(lambda: "unset THREDFI_BASE_URL" in demo.output(), 10, "the hint", demo.output)
        assert "Could not connect to Thredfi at http://127.0.0.1:9" in demo.output()
        assert demo.child_pids() == {}  # nothing was started
    finally:
        if demo.proc.poll() is None:
            demo.kill_everything()


@pytest.mark.skipif(not Path("/proc").exists(), reason="checks child processes via /proc")
def test_kill_9_of_the_supervisor_takes_every_child_with_it(tmp_path):
    demo = Demo(tmp_path)
    try:
        demo.wait_until_started()
        children = demo.child_pids()
        assert set(children) == {"thredfi", "worker", "beat", "web"}

        os.kill(demo.proc.pid, signal.SIGKILL)  # no chance to clean up
        demo.proc.wait(timeout=10)

        wait_for(
            lambda: not any(alive(pid) for pid in children.values()),
            STOP_TIMEOUT,
            "the children to die with the supervisor",
            lambda: f"still alive: {[n for n, p in children.items() if alive(p)]}",
        )
        assert processes_mentioning(f"127.0.0.1:{demo.port}") == []
    finally:
        if demo.proc.poll() is None or any(alive(p) for p in demo.child_pids().values()):
            demo.kill_everything()


def run_demo_expecting_refusal(demo: Demo) -> str:
    """The demo's output once it has exited with status 1 (refused before starting anything)."""
    try:
        assert demo.proc.wait(timeout=STARTUP_TIMEOUT) == 1, demo.output()
        wait_for(lambda: "CommandError" in demo.output(), 10, "the error", demo.output)
        assert demo.child_pids() == {}
        return demo.output()
    finally:
        if demo.proc.poll() is None:
            demo.kill_everything()


def test_a_second_demo_on_the_same_var_dir_is_refused_and_told_what_to_do(tmp_path):
    import fcntl

    # A first demo holds the var directory (the lock file records who it is).
    with open(tmp_path / "demo.lock", "w") as first:
        fcntl.flock(first, fcntl.LOCK_EX | fcntl.LOCK_NB)
        first.write("pid 4242, port 8000\n")
        first.flush()

        output = run_demo_expecting_refusal(Demo(tmp_path))

    assert f"Another demo (pid 4242, port 8000) is using {tmp_path}" in output
    assert "DEMO_VAR_DIR=" in output


@pytest.mark.skipif(not Path("/proc").exists(), reason="finds the port's owner via /proc")
def test_a_busy_web_port_names_the_process_holding_it(tmp_path):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        output = run_demo_expecting_refusal(Demo(tmp_path, port=port))

    assert f"Port {port} (web server) is already in use by pid {os.getpid()}" in output
    assert f"kill {os.getpid()}" in output
