"""What every benchmark needs: Django on a fresh PostgreSQL database, the fake Thredfi over real
HTTP on 127.0.0.1 (a process of its own), cold token caches, real celery worker processes.

Each benchmark calls :func:`setup_django` before importing models, then::

    with bench_database(), live_fake() as fake:
        ...

Nothing here asserts a duration: the scripts print what they measure.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]


def setup_django() -> None:
    """Configure Django with benchmarks.settings (PostgreSQL + Redis unless the env says else)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.settings")
    import django

    django.setup()
    from tests.celery_app import app

    # A queue of this run's own, so nothing else on the broker takes or leaves tasks in it.
    queue = os.environ.get("CELERY_TASK_DEFAULT_QUEUE", "celery")
    if queue == "celery":
        queue = f"thredfi-bench-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    app.conf.task_default_queue = queue
    if os.environ.get("CELERY_TASK_DEFAULT_QUEUE") != queue:  # ours: remove it at exit
        import atexit

        from tests.fixtures.real_services import delete_queue

        atexit.register(delete_queue, queue)


@contextmanager
def bench_database() -> Iterator[str]:
    """A fresh, migrated database (``test_<NAME>``, as the test runner makes), dropped at exit."""
    from django.db import connection

    old_name = connection.settings_dict["NAME"]
    name = connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        yield name
    finally:
        connection.close()
        connection.creation.destroy_test_db(old_name, verbosity=0)


class FakeProcess:
    """The fake Thredfi in a process of its own (``python -m thredfi_django.testing.server``),
    driven over its ``/__fake__/`` control endpoints: the API is not in the benchmark's process,
    so it does not share its interpreter lock with the code being measured."""

    def __init__(self, partner_uuid: str, api_key: str, token_ttl: int = 3600):
        import subprocess
        import tempfile

        import requests

        self.http = requests.Session()
        self.partner = (partner_uuid, api_key)
        self.log = tempfile.NamedTemporaryFile(prefix="fake-thredfi-", suffix=".log")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "thredfi_django.testing.server", "--port", "0",
             "--partner-uuid", partner_uuid, "--api-key", api_key,
             "--token-ttl", str(token_ttl)],
            cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.url = ""
        if not wait_until(self._read_url, timeout=30):
            self.stop()
            raise RuntimeError(f"the fake did not start: {Path(self.log.name).read_text()}")
        self.base_url = self.url

    def _read_url(self) -> bool:
        text = Path(self.log.name).read_text()
        if "listening on " in text:
            self.url = text.split("listening on ", 1)[1].split()[0]
        return bool(self.url)

    def _control(self, method: str, action: str, **body: Any) -> Any:
        response = self.http.request(method, f"{self.url}/__fake__/{action}", json=body, timeout=30)
        response.raise_for_status()
        return response.json()

    def reset(self) -> None:
        self._control("POST", "reset")

    def set_faults(self, **settings: Any) -> None:
        self._control("POST", "faults", **settings)

    @property
    def stats(self) -> dict[str, Any]:
        return self._control("GET", "stats")

    def records(self, resource: str) -> list[dict[str, Any]]:
        return self._control("GET", f"records/{resource}")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)
        self.log.close()


@contextmanager
def live_fake(token_ttl: int = 3600) -> Iterator[FakeProcess]:
    """The fake Thredfi over real HTTP on 127.0.0.1 in a process of its own, knowing the
    partner and issuing tokens that live ``token_ttl`` seconds, with ``THREDFI["BASE_URL"]``
    pointed at it and the token cache empty."""
    from django.conf import settings
    from django.test import override_settings

    from thredfi_django.testing.pytest_plugin import _clear_token_cache

    fake = FakeProcess(settings.THREDFI["PARTNER_UUID"], settings.THREDFI["API_KEY"], token_ttl)
    try:
        with override_settings(THREDFI={**settings.THREDFI, "BASE_URL": fake.url}):
            _clear_token_cache()
            yield fake
            _clear_token_cache()
    finally:
        fake.stop()


def reset_fake(fake: Any) -> None:
    """Empty the fake (records, tokens, counters) and the token cache: cold start."""
    from thredfi_django.testing.pytest_plugin import _clear_token_cache

    fake.reset()
    _clear_token_cache()


def http_stats(fake: Any) -> dict[str, Any]:
    """The fake's counters, read over HTTP from ``/__fake__/stats`` (control calls not counted)."""
    import requests

    response = requests.get(f"{fake.url}/__fake__/stats", timeout=10)
    response.raise_for_status()
    return response.json()


@contextmanager
def celery_worker(
    fake: Any,
    *,
    concurrency: int = 1,
    conn_max_age: int | None = None,
    async_commit: bool = False,
    env: dict[str, str] | None = None,
) -> Iterator[Any]:
    """A real ``celery worker`` process (prefork) on this database, broker, cache and fake.

    ``conn_max_age`` (seconds) keeps the worker's database connections open between tasks
    (Django's CONN_MAX_AGE, default 0: Celery's Django fix-up closes them after every task).
    ``async_commit`` runs the worker's sessions with ``synchronous_commit=off`` (no WAL flush
    wait per commit), to show what the commits of a push cost. ``env`` adds to the worker's
    environment (tests/settings.py reads a few ``THREDFI_*`` variables).
    """
    from django.conf import settings
    from django.db import connection

    from tests.celery_app import app
    from tests.fixtures.real_services import CeleryWorkerProcess, database_url

    query = {}
    if conn_max_age is not None:
        query["conn_max_age"] = conn_max_age
    if async_commit:
        query["options"] = "-c synchronous_commit=off"
    worker_env = {
        **(env or {}),
        "DJANGO_SETTINGS_MODULE": os.environ["DJANGO_SETTINGS_MODULE"],
        "DATABASE_URL": database_url(connection.settings_dict) + "?" + urlencode(query),
        "CELERY_BROKER_URL": str(settings.CELERY_BROKER_URL),
        "CACHE_URL": os.environ.get("CACHE_URL", ""),
        "THREDFI_BASE_URL": fake.url,
    }
    worker = CeleryWorkerProcess(
        env=worker_env, queue=app.conf.task_default_queue, concurrency=concurrency
    )
    app.control.purge()
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()
        if not os.environ.get("BENCH_KEEP_WORKER_LOG"):
            worker.log_path.unlink(missing_ok=True)


def task_runtimes(worker: Any, task_name: str = "thredfi_django.sync_object") -> list[float]:
    """Seconds each task took inside the pool process, from the worker's INFO log."""
    import re

    pattern = re.compile(rf"Task {re.escape(task_name)}\[[^\]]+\] succeeded in ([0-9.]+)s")
    return [float(m.group(1)) for m in pattern.finditer(worker.log_text())]


def percentile(values: list[float], q: float) -> float:
    """The nearest-rank ``q`` quantile of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def wait_until(predicate, timeout: float, interval: float = 0.05) -> bool:
    """Poll ``predicate`` until true or ``timeout`` seconds pass; returns its last answer."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)


def describe_environment() -> str:
    """One line: database, broker, cache, CPU count; printed at the top of every benchmark."""
    import django
    from django.conf import settings
    from django.db import connection

    cache = settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1]
    return (
        f"django {django.get_version()}, {connection.vendor} {connection.settings_dict['NAME']}, "
        f"broker {settings.CELERY_BROKER_URL}, cache {cache}, {os.cpu_count()} CPUs, "
        f"python {sys.version.split()[0]}"
    )


def status_counts() -> dict[str, int]:
    """``{status: rows}`` over every sync-state row."""
    from django.db.models import Count

    from thredfi_django.models import SyncState

    rows = SyncState.objects.values_list("status").annotate(n=Count("pk")).order_by("status")
    return dict(rows)


def wait_until_settled(timeout: float) -> dict[str, int]:
    """Wait until no save is only marked on its row any more and no row is pending, in
    progress or blocked (all synced, or failed)."""
    from thredfi_django.engine.absorb import synced_models
    from thredfi_django.models import SyncState, SyncStatus

    busy = [SyncStatus.PENDING, SyncStatus.IN_PROGRESS, SyncStatus.BLOCKED]

    def settled() -> bool:
        if SyncState.objects.filter(status__in=busy).exists():
            return False
        marked = (m._base_manager.filter(thredfi_dirty__isnull=False) for m in synced_models())
        return not any(qs.exists() for qs in marked)

    wait_until(settled, timeout, 0.1)
    return status_counts()


def build_accounts(businesses: int) -> list[Any]:
    """``businesses`` accounts (Thredfi businesses), saved one by one."""
    from tests.testapp.models import Account

    return [
        Account.objects.create(legal_name=f"Bench {b} Ltd", email=f"books{b}@bench.example")
        for b in range(businesses)
    ]


def build_invoices(
    invoices: int,
    accounts: list[Any],
    *,
    lines: int = 1,
    customers: dict[int, Any] | None = None,
    prefix: str = "B",
) -> list[Any]:
    """``invoices`` invoices spread over ``accounts``, each saved with its ``lines`` lines in
    one transaction (as a platform's form or API view does). Each gets a new customer, saved in
    the same transaction, unless ``customers`` ({account pk: customer}) names one to reuse."""
    import datetime as dt
    from decimal import Decimal

    from django.db import transaction

    from tests.testapp.models import Customer, Invoice, InvoiceLine

    made = []
    for i in range(invoices):
        account = accounts[i % len(accounts)]
        with transaction.atomic():
            customer = (customers or {}).get(account.pk) or Customer.objects.create(
                account=account, name=f"Customer {prefix}{i}", email=f"c{i}@bench.example"
            )
            invoice = Invoice.objects.create(
                account=account,
                customer=customer,
                number=f"{prefix}-{i:06d}",
                issued_on=dt.date(2026, 11, 24),
                due_on=dt.date(2026, 12, 24),
            )
            for n in range(lines):
                InvoiceLine.objects.create(
                    invoice=invoice,
                    description=f"Item {n}",
                    quantity=Decimal("1"),
                    unit_price=Decimal("10.00") + n,
                )
        made.append(invoice)
    return made


def queue_backlog(owners: list[tuple[Any, Any]], n: int, prefix: str) -> list[str]:
    """``n`` invoices spread over ``owners`` ((account, customer) pairs), each with one line,
    bulk-created (no save, no marker) then queued by ``thredfi_sync``, as a platform re-syncing
    its tenants would. Returns their pks."""
    import datetime as dt
    from decimal import Decimal
    from io import StringIO

    from django.core.management import call_command

    from tests.testapp.models import Invoice, InvoiceLine

    invoices = Invoice.objects.bulk_create(
        Invoice(
            account=owners[i % len(owners)][0],
            customer=owners[i % len(owners)][1],
            number=f"{prefix}-{i:06d}",
            issued_on=dt.date(2026, 11, 24),
            due_on=dt.date(2026, 12, 24),
        )
        for i in range(n)
    )
    InvoiceLine.objects.bulk_create(
        InvoiceLine(invoice=inv, description="Item", quantity=1, unit_price=Decimal("10"))
        for inv in invoices
    )
    call_command("thredfi_sync", "--model", "testapp.Invoice", stdout=StringIO())
    return [str(inv.pk) for inv in invoices]


def save_invoice(account: Any, customer: Any, number: str) -> Any:
    """One invoice with one line, saved in one transaction (as a platform's form would)."""
    import datetime as dt
    from decimal import Decimal

    from django.db import transaction

    from tests.testapp.models import Invoice, InvoiceLine

    with transaction.atomic():
        invoice = Invoice.objects.create(
            account=account,
            customer=customer,
            number=number,
            issued_on=dt.date(2026, 11, 24),
            due_on=dt.date(2026, 12, 24),
        )
        InvoiceLine.objects.create(
            invoice=invoice, description="Item", quantity=1, unit_price=Decimal("9")
        )
    return invoice


def edit_invoice(invoice_pk: Any, memo: str) -> None:
    """Change an invoice's memo and its first line's quantity, read fresh and saved in one
    transaction (as a platform's edit form would)."""
    from django.db import transaction

    from tests.testapp.models import Invoice

    with transaction.atomic():
        invoice = Invoice.objects.get(pk=invoice_pk)
        invoice.memo = memo
        invoice.save()
        line = invoice.lines.first()
        line.quantity += 1
        line.save()


def synced_versions(object_ids: list[str]) -> dict[str, int]:
    """``{object id: synced_version}`` of the invoices ``object_ids``: a save of a synced
    invoice is synced once its row's ``synced_version`` passes the one read before the save."""
    from thredfi_django.models import SyncState

    rows = SyncState.objects.filter(resource="invoice", object_id__in=object_ids)
    return dict(rows.values_list("object_id", "synced_version"))


def synced_invoices(object_ids: list[str]) -> int:
    """How many of the invoices ``object_ids`` are synced."""
    from thredfi_django.models import SyncState, SyncStatus

    return SyncState.objects.filter(
        resource="invoice", object_id__in=object_ids, status=SyncStatus.SYNCED
    ).count()


def cpu_seconds() -> dict[str, float]:
    """CPU time (user + system, seconds) used so far by the processes of this machine, grouped:
    ``postgres`` (every server process), ``celery`` (worker processes of tests.celery_app),
    ``fake`` (the fake Thredfi server), ``bench`` (this process), ``other``. Subtract two
    readings to see which process did the work of a phase (Linux only; empty elsewhere)."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    totals: dict[str, float] = {}
    proc = Path("/proc")
    if not proc.is_dir():
        return totals
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="ignore")
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        used = (int(fields[11]) + int(fields[12])) / tick  # utime, stime
        if int(entry.name) == os.getpid():
            group = "bench"
        elif "postgres" in stat.split(")")[0] or cmdline.startswith("postgres"):
            group = "postgres"
        elif "celery" in cmdline and "worker" in cmdline:
            group = "celery"
        elif "thredfi_django.testing.server" in cmdline:
            group = "fake"
        elif "redis-server" in cmdline:
            group = "redis"
        else:
            group = "other"
        totals[group] = totals.get(group, 0.0) + used
    return totals


def cpu_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """``after - before`` per group, rounded, groups that used nothing left out. A process that
    exited between the readings is missing from ``after``: read both while the processes run."""
    delta = {key: round(after.get(key, 0.0) - before.get(key, 0.0), 2) for key in after}
    return {key: value for key, value in sorted(delta.items()) if value > 0}
