"""Fault-injection run (issue 6): N objects synced by real workers while Thredfi misbehaves.

The fake Thredfi is served over real HTTP on 127.0.0.1 and answers (seeded) 10% of requests
with a 5xx, 5% with a 429 + Retry-After, applies 5% and then drops the connection, and answers
2% later than the client's read timeout. Two real ``celery worker`` processes (prefork,
concurrency 1) push; this process saves the objects and runs the sweep every second (as beat
would). Once ~30% of the objects are synced, one worker is killed with SIGKILL (its pool child
mid-task) and started again. At the end every object must be synced, with exactly one remote
record per external_id, and remote amounts equal to local ones (cents). The counts are printed;
the exit status is 1 when a check fails.

    .venv/bin/python benchmarks/fault_injection.py [--objects 2000] [--seed 6] [--workers 2]
        [--deadline 600] [--kill-at 0.3[,0.5,...]] [--sweep-stale 30]

Needs PostgreSQL and Redis on 127.0.0.1. Environment (defaults in brackets): DATABASE_URL
[postgres://postgres@127.0.0.1:5432/thredfi_faults; the run creates and drops test_<name>],
CELERY_BROKER_URL [redis://127.0.0.1:6379/8], CACHE_URL [rediscache://127.0.0.1:6379/8].
tests/test_fault_injection.py runs :func:`run` at a CI-friendly size.

Nothing here asserts a duration: the deadline only bounds a run that would otherwise hang.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

#: The fault mix of issue 6. ``slow_seconds`` is above the client's read timeout below.
FAULTS = {
    "server_error_rate": 0.10,
    "rate_limit_rate": 0.05,
    "retry_after": 1,
    "drop_after_apply_rate": 0.05,
    "slow_rate": 0.02,
    "slow_seconds": 1.5,
}

#: THREDFI settings for the run (benchmarks/fault_settings.py; tests override them the same way):
#: a 1 s read timeout (slow answers time out), retries after 0.2-2 s, enough attempts that the
#: fault mix never exhausts them, and a short lease so the killed worker's row is soon reclaimed.
#: SWEEP_STALE_SECONDS stays above how long a task may wait in the queue: the sweep cannot tell a
#: queued task from a lost one, so below that it re-enqueues every waiting row each time
#: (--sweep-stale 5 shows it: ~5 tasks per object, 3/4 of them "not_claimed").
THREDFI_OVERRIDES = {
    "TIMEOUT": (2.0, 1.0),
    "BACKOFF_BASE": 0.2,
    "BACKOFF_MAX": 2.0,
    "MAX_ATTEMPTS": 30,
    "SWEEP_STALE_SECONDS": 30,
    "LEASE_SECONDS": 10,
}

WORKER_SETTINGS = "benchmarks.fault_settings"
#: Unit prices that do not add up nicely in binary floating point.
PRICES = ("19.99", "0.01", "33.33", "0.10", "7.77", "1234.56", "0.29", "99.95", "4.35", "10.00")

RESOURCES = ("business", "customer", "invoice", "payment")
REMOTE = {"business": "businesses", "customer": "customers", "invoice": "invoices",
          "payment": "payments"}  # fmt: skip


@dataclass
class Result:
    """What a run did and found. ``problems`` is empty when every check passed."""

    objects: dict[str, int] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)
    error_kinds: dict[str, int] = field(default_factory=dict)
    remote_records: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0
    amount_mismatches: int = 0
    edits: int = 0
    in_flight_at_kill: list[str] = field(default_factory=list)
    #: Synced rows when the first worker was killed (None: never); ``kills``: every kill.
    killed_at_synced: int | None = None
    kills: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    slowest: list[str] = field(default_factory=list)
    tasks: dict[str, int] = field(default_factory=dict)
    #: {transient failures of one object: objects} (attempt history, at most ATTEMPT_HISTORY).
    retries_per_object: dict[int, int] = field(default_factory=dict)
    sweeps: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    worker_logs: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        """The report, one printable line each."""
        stats = self.stats
        faults = stats.get("faults", {})
        out = [
            "objects: "
            + ", ".join(f"{r} {self.objects.get(r, 0)}" for r in RESOURCES)
            + f" (total {sum(self.objects.values())})",
            f"sync states: {self.statuses}",
            "remote records: " + ", ".join(f"{k} {v}" for k, v in self.remote_records.items()),
            f"requests to Thredfi: {stats.get('total_requests', 0)} "
            f"(tokens issued: {stats.get('tokens_issued', {})})",
            "  by endpoint: "
            + ", ".join(f"{n} {k}" for k, n in sorted((stats.get("requests") or {}).items())),
            f"faults injected: 5xx {faults.get('server_error', 0)}, "
            f"429 {faults.get('rate_limit', 0)}, applied+dropped {faults.get('drop', 0)}, "
            f"slower than the read timeout {faults.get('slow', 0)}",
            f"sync_object tasks run, by outcome (worker logs): {self.tasks} "
            f"(total {sum(self.tasks.values())})",
            f"sweep: {self.sweeps}",
            f"attempts recorded by outcome: {self.attempts} (total {sum(self.attempts.values())})",
            f"failed attempts by error kind: {self.error_kinds}",
            f"objects by transient failures before success: {self.retries_per_object}",
            f"SIGKILLs: {len(self.kills)}: " + "; ".join(self.kills),
            f"duplicates found: {self.duplicates}",
            f"invoices edited while syncing: {self.edits}; amount mismatches: "
            f"{self.amount_mismatches}",
            f"elapsed: {self.elapsed:.1f} s",
            "slowest rows (saved -> synced; attempts, seconds after the save):",
            *[f"  {line}" for line in self.slowest],
        ]
        out += [f"PROBLEM: {p}" for p in self.problems[:50]]
        out.append("RESULT: " + ("OK" if self.ok else f"FAILED ({len(self.problems)} problems)"))
        return out


# --- the objects ---------------------------------------------------------------------------------


def plan(objects: int) -> dict[str, int]:
    """How many of each resource make ``objects`` (at least one of each): about 1 business per
    200 objects, 10% customers, and the rest two thirds invoices, one third payments."""
    if objects < 4:
        raise ValueError("--objects must be at least 4 (one business, customer, invoice, payment)")
    businesses = max(1, objects // 200)
    customers = max(1, objects // 10 - businesses)
    rest = objects - businesses - customers
    payments = max(1, rest // 3)
    return {"business": businesses, "customer": customers, "invoice": rest - payments,
            "payment": payments}  # fmt: skip


def build_objects(objects: int, seed: int, tick: Callable[[], None] = lambda: None) -> None:
    """Save the planned objects as a platform would, one transaction per business action
    (an invoice with its 1-3 lines; a payment with its allocation). ``tick`` is called every
    25 saves so the caller can act (kill a worker) while objects are still being created."""
    import datetime as dt

    from django.db import transaction

    from tests.testapp.models import (
        Account,
        Customer,
        Invoice,
        InvoiceLine,
        Payment,
        PaymentAllocation,
    )

    rng = random.Random(seed)
    counts = plan(objects)
    today = dt.date(2026, 11, 24)
    accounts = [
        Account.objects.create(legal_name=f"Faulty {b} Ltd", email=f"books{b}@faults.example")
        for b in range(counts["business"])
    ]
    customers: dict[int, list[Customer]] = {a.pk: [] for a in accounts}
    for c in range(counts["customer"]):
        account = accounts[c % len(accounts)]
        customers[account.pk].append(
            Customer.objects.create(account=account, name=f"Customer {c}", email=f"c{c}@f.example")
        )
        if c % 25 == 0:
            tick()
    # Only accounts with a customer get invoices (a tiny --objects may leave some without).
    invoicing = [a for a in accounts if customers[a.pk]]
    invoices: list[Invoice] = []
    for i in range(counts["invoice"]):
        account = invoicing[i % len(invoicing)]
        with transaction.atomic():
            invoice = Invoice.objects.create(
                account=account,
                customer=rng.choice(customers[account.pk]),
                number=f"F-{i:06d}",
                issued_on=today,
                due_on=today + dt.timedelta(days=30),
            )
            for n in range(rng.randint(1, 3)):
                InvoiceLine.objects.create(
                    invoice=invoice,
                    description=f"Item {n}",
                    quantity=Decimal(rng.randint(1, 3)),
                    unit_price=Decimal(rng.choice(PRICES)),
                )
        invoices.append(invoice)
        if i % 25 == 0:
            tick()
    for p in range(counts["payment"]):
        invoice = invoices[p % len(invoices)] if p < len(invoices) else None
        if invoice is None:
            break
        total = invoice.total
        # Half pay in full, half pay a third (rounded to the cent; at least 0.01).
        amount = total if p % 2 else max(Decimal("0.01"), (total / 3).quantize(Decimal("0.01")))
        with transaction.atomic():
            payment = Payment.objects.create(
                account=invoice.account, customer=invoice.customer, amount=amount,
                paid_on=today, reference=f"FP-{p:06d}",
            )  # fmt: skip
            PaymentAllocation.objects.create(payment=payment, invoice=invoice, amount=amount)
        if p % 25 == 0:
            tick()


def edit_invoices(count: int, seed: int) -> int:
    """Raise a line price of ``count`` unpaid invoices that are being pushed or already synced
    (those first): each save marks its invoice dirty again, so the end state must hold the new
    total, or an update was lost. Returns how many invoices were edited."""
    from django.db import transaction

    from tests.testapp.models import InvoiceLine, Payment
    from thredfi_django.models import SyncState, SyncStatus

    rng = random.Random(seed + 1)
    paid = set(Payment.objects.values_list("allocations__invoice_id", flat=True))
    lines = InvoiceLine.objects.exclude(invoice_id__in=paid).order_by("invoice_id", "pk")
    firsts = {}
    for line in lines:
        firsts.setdefault(line.invoice_id, line)
    status = dict(SyncState.objects.filter(resource="invoice").values_list("object_id", "status"))
    rank = {SyncStatus.IN_PROGRESS: 0, SyncStatus.SYNCED: 1}
    candidates = sorted(firsts, key=lambda pk: (rank.get(status.get(str(pk)), 2), rng.random()))
    chosen = candidates[:count]
    for invoice_id in chosen:
        line = firsts[invoice_id]
        with transaction.atomic():
            line.unit_price = line.unit_price + Decimal("0.01")
            line.save()
    return len(chosen)


def local_objects() -> dict[str, list[Any]]:
    """Every host object of the run, by resource (invoices with their lines)."""
    from tests.testapp.models import Account, Customer, Invoice, Payment

    return {
        "business": list(Account.objects.all()),
        "customer": list(Customer.objects.all()),
        "invoice": list(Invoice.objects.prefetch_related("lines")),
        "payment": list(Payment.objects.all()),
    }


# --- the workers ---------------------------------------------------------------------------------


def worker_env(fake_url: str) -> dict[str, str]:
    """Environment of a worker on this process's database, broker and cache and the fake."""
    from django.conf import settings
    from django.db import connection

    from tests.fixtures.real_services import database_url

    env = {
        "DJANGO_SETTINGS_MODULE": WORKER_SETTINGS,
        "DATABASE_URL": database_url(connection.settings_dict),
        "CELERY_BROKER_URL": str(settings.CELERY_BROKER_URL),
        "THREDFI_BASE_URL": fake_url,
    }
    if os.environ.get("CACHE_URL"):
        env["CACHE_URL"] = os.environ["CACHE_URL"]
    return env


def task_outcomes(logs) -> dict[str, int]:
    """``{outcome: tasks}`` for ``sync_object`` from worker logs (INFO lines "succeeded in")."""
    import re

    pattern = re.compile(r"Task thredfi_django\.sync_object\[[^\]]+\] succeeded in \S+: '(\w+)'")
    counts: Counter[str] = Counter()
    for text in logs:
        counts.update(pattern.findall(text))
    return dict(sorted(counts.items()))


def _children(pid: int | None) -> list[int]:
    """The pool processes of a worker (Linux /proc; empty elsewhere)."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(child) for child in text.split()]


def _http(fake_url: str, method: str, path: str, json: dict | None = None) -> Any:
    import requests

    response = requests.request(method, f"{fake_url}{path}", json=json, timeout=30)
    response.raise_for_status()
    return response.json()


# --- the run -------------------------------------------------------------------------------------


def run(
    fake_url: str,
    *,
    objects: int = 2000,
    seed: int = 6,
    workers: int = 2,
    deadline: float = 600.0,
    kill_at: tuple[float, ...] = (0.3,),
    say: Callable[[str], None] = lambda line: None,
) -> Result:
    """Sync ``objects`` objects through ``workers`` real workers under the fault mix, SIGKILL and
    restart a worker (in turn) once each fraction in ``kill_at`` of them is synced, wait (at most
    ``deadline`` seconds) until every row is synced, then check the end state. Needs an empty,
    migrated PostgreSQL database (the current connection), the broker and the fake at
    ``fake_url``; the sweep runs with this process's ``THREDFI`` (give it THREDFI_OVERRIDES)."""
    from tests.celery_app import app
    from tests.fixtures.real_services import CeleryWorkerProcess
    from thredfi_django.engine.absorb import synced_models
    from thredfi_django.engine.sweep import sweep
    from thredfi_django.models import SyncState, SyncStatus

    result = Result()
    expected = sum(plan(objects).values())
    _http(fake_url, "POST", "/__fake__/faults", {**FAULTS, "seed": seed})
    env = worker_env(fake_url)
    app.control.purge()
    pool = [CeleryWorkerProcess(env=env, queue=app.conf.task_default_queue) for _ in range(workers)]
    started = time.monotonic()
    last_sweep = 0.0

    def synced() -> int:
        """Synced rows, less the saves still only marked on their host row (changed since)."""
        marked = sum(
            model._base_manager.filter(thredfi_dirty__isnull=False).count()
            for model in synced_models()
        )
        return SyncState.objects.filter(status=SyncStatus.SYNCED).count() - marked

    sweeps = result.sweeps = {"runs": 0, "rows re-enqueued": 0}

    def tick() -> None:
        nonlocal last_sweep
        if time.monotonic() - last_sweep >= 1.0:
            sweeps["rows re-enqueued"] += sweep()  # what beat's sweep_pending would do, each second
            sweeps["runs"] += 1
            last_sweep = time.monotonic()
        done = synced()
        if len(result.kills) < len(kill_at) and done >= kill_at[len(result.kills)] * expected:
            victim = pool[len(result.kills) % len(pool)]
            # Kill it while it holds a row (a push on the wire), if it gets one within 5 s.
            owners = tuple(f":{pid}/" for pid in _children(victim.pid))
            in_flight: list[str] = []
            wait_until = time.monotonic() + 5
            while not in_flight and time.monotonic() < wait_until:
                rows = SyncState.objects.filter(status=SyncStatus.IN_PROGRESS).values_list(
                    "pk", "resource", "lease_owner"
                )
                in_flight = [f"{r} #{pk}" for pk, r, owner in rows if owner and any(
                    o in owner for o in owners)]  # fmt: skip
                time.sleep(0.02)
            victim.kill()
            if result.killed_at_synced is None:
                result.in_flight_at_kill, result.killed_at_synced = in_flight, done
            held = _rows_held(in_flight)
            result.kills.append(f"at {done} synced, holding {held}")
            say(f"SIGKILLed worker {victim.nodename} at {done}/{expected} synced, while it held "
                f"{held}; restarting it")  # fmt: skip
            victim.start()

    try:
        for worker in pool:
            worker.start()
        say(f"{workers} workers up; creating {expected} objects {plan(objects)}")
        build_objects(objects, seed, tick)
        say(f"objects created after {time.monotonic() - started:.1f} s")
        last_report, edited = time.monotonic(), False
        while time.monotonic() - started < deadline:
            tick()
            done = synced()
            if not edited and done >= 0.5 * expected:
                edited = True
                result.edits = edit_invoices(plan(objects)["invoice"] // 20, seed)
                say(f"edited {result.edits} invoices at {done}/{expected} synced")
                continue
            if done >= expected and len(result.kills) == len(kill_at):
                break
            if time.monotonic() - last_report >= 10:
                say(f"{time.monotonic() - started:6.1f} s: {done}/{expected} synced")
                last_report = time.monotonic()
            time.sleep(0.25)
        result.elapsed = time.monotonic() - started
    finally:
        for worker in pool:
            worker.stop()
        result.worker_logs = [str(w.log_path) for w in pool]
        result.tasks = task_outcomes(w.log_text() for w in pool)
    _http(fake_url, "POST", "/__fake__/faults", {})
    verify(fake_url, result, expected)
    return result


# --- the checks ----------------------------------------------------------------------------------


def verify(fake_url: str, result: Result, expected: int) -> Result:
    """Fill ``result`` with counts and problems: every object synced, exactly one remote record
    per external_id (and no other records), remote ids and amounts (cents) equal local ones."""
    from django.db.models import Count

    from thredfi_django.engine import absorb
    from thredfi_django.models import SyncAttempt, SyncState, SyncStatus
    from thredfi_django.money import to_cents

    # A save still only marked on its row is a pending change: give it its row to be counted.
    absorb.absorb_all()
    problems = result.problems
    result.stats = _http(fake_url, "GET", "/__fake__/stats")
    result.statuses = dict(
        SyncState.objects.values_list("status").annotate(n=Count("pk")).order_by("status")
    )
    result.attempts = dict(
        SyncAttempt.objects.values_list("outcome").annotate(n=Count("pk")).order_by("outcome")
    )
    result.error_kinds = dict(
        SyncAttempt.objects.exclude(error_kind="")
        .values_list("error_kind")
        .annotate(n=Count("pk"))
        .order_by("error_kind")
    )
    per_row = Counter(
        SyncAttempt.objects.filter(outcome=SyncAttempt.Outcome.TRANSIENT_ERROR).values_list(
            "state_id", flat=True
        )
    )
    every = SyncState.objects.values_list("pk", flat=True)
    result.retries_per_object = dict(sorted(Counter(per_row.get(pk, 0) for pk in every).items()))
    result.slowest = slowest_rows()
    if result.killed_at_synced is None:
        problems.append("no worker was killed (the run ended before kill_at was reached)")
    for state in SyncState.objects.exclude(status=SyncStatus.SYNCED).order_by("pk")[:50]:
        problems.append(
            f"not synced: {state.resource} {state.object_id} {state.status} "
            f"attempts={state.attempts} lease_owner={state.lease_owner!r} "
            f"error={state.last_error_kind}: {state.last_error_message[:200]}"
        )
    mine = local_objects()
    result.objects = {resource: len(items) for resource, items in mine.items()}
    if sum(result.objects.values()) != expected:
        problems.append(f"{sum(result.objects.values())} objects saved, {expected} planned")
    states = {
        (s.resource, s.object_id): s
        for s in SyncState.objects.all().only("resource", "object_id", "remote_id", "status")
    }
    for resource, items in mine.items():
        records = _http(fake_url, "GET", f"/__fake__/records/{REMOTE[resource]}")
        result.remote_records[REMOTE[resource]] = len(records)
        by_external_id: dict[str, list[dict]] = {}
        for record in records:
            by_external_id.setdefault(str(record.get("external_id")), []).append(record)
        counts = Counter({k: len(v) for k, v in by_external_id.items()})
        result.duplicates += sum(n - 1 for n in counts.values() if n > 1)
        for external_id, n in counts.items():
            if n > 1:
                problems.append(f"{n} remote {REMOTE[resource]} with external_id {external_id}")
        local_ids = set()
        for obj in items:
            external_id = obj.get_thredfi_external_id()
            local_ids.add(external_id)
            state = states.get((resource, str(obj.pk)))
            if state is None:
                problems.append(f"{resource} {obj.pk} has no sync state")
                continue
            found = by_external_id.get(external_id, [])
            if not found:
                problems.append(f"{resource} {obj.pk} ({external_id}) has no remote record")
                continue
            record = found[0]
            if str(obj.thredfi_id) != record["id"] or str(state.remote_id) != record["id"]:
                problems.append(
                    f"{resource} {obj.pk}: local id {obj.thredfi_id} / state {state.remote_id}, "
                    f"remote {record['id']}"
                )
            ours, theirs = _amounts(resource, obj, record, to_cents)
            if ours != theirs:
                result.amount_mismatches += 1
                problems.append(f"{resource} {obj.pk}: {ours} cents locally, {theirs} remotely")
        for external_id in set(by_external_id) - local_ids:
            problems.append(f"remote {REMOTE[resource]} {external_id} has no local object")
    return result


def slowest_rows(count: int = 5) -> list[str]:
    """The ``count`` rows that took longest from their first save to their last sync, each with
    its attempt history (outcome, error kind, seconds after the save): where the tail comes from."""
    from django.db.models import F

    from thredfi_django.models import SyncAttempt, SyncState

    rows = (
        SyncState.objects.filter(last_synced_at__isnull=False)
        .annotate(took=F("last_synced_at") - F("created_at"))
        .order_by("-took")[:count]
    )
    out = []
    for state in rows:
        steps = [
            f"{a.outcome}{f'({a.error_kind} {a.http_status or 0})' if a.error_kind else ''}"
            f"@{(a.started_at - state.created_at).total_seconds():.1f}"
            for a in SyncAttempt.objects.filter(state=state).order_by("started_at", "pk")
        ]
        out.append(
            f"{state.resource} #{state.pk}: {state.took.total_seconds():.1f} s; {' '.join(steps)}"
        )
    return out


def _amounts(resource: str, obj: Any, record: dict, to_cents) -> tuple[Any, Any]:
    """(local, remote) amounts in cents; (None, None) for resources without one."""
    if resource == "invoice":
        return to_cents(obj.total), record.get("total_amount")
    if resource == "payment":
        return to_cents(obj.amount), record.get("total_amount_cents")
    return None, None


# --- the script ----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--objects", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=6, help="seeds the fault mix and the data")
    parser.add_argument("--workers", type=int, default=2, help="celery worker processes")
    parser.add_argument("--deadline", type=float, default=600.0, help="seconds to wait at most")
    parser.add_argument(
        "--kill-at",
        default="0.3",
        help="comma-separated fractions synced at which a worker is SIGKILLed (in turn)",
    )
    parser.add_argument(
        "--sweep-stale",
        type=float,
        default=THREDFI_OVERRIDES["SWEEP_STALE_SECONDS"],
        help="SWEEP_STALE_SECONDS for this process's sweep",
    )
    args = parser.parse_args(argv)

    root = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(root))
    os.environ["DJANGO_SETTINGS_MODULE"] = WORKER_SETTINGS
    os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/thredfi_faults")
    os.environ.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/8")
    os.environ.setdefault("CACHE_URL", "rediscache://127.0.0.1:6379/8")
    from benchmarks import harness

    harness.setup_django()
    from django.conf import settings
    from django.test import override_settings

    with harness.bench_database(), harness.live_fake() as fake:
        overrides = {**THREDFI_OVERRIDES, "SWEEP_STALE_SECONDS": args.sweep_stale}
        stack = override_settings(THREDFI={**settings.THREDFI, **overrides})
        stack.enable()
        print(harness.describe_environment())
        print(f"fault mix: {FAULTS}, seed {args.seed}; THREDFI overrides: {overrides}")
        result = run(
            fake.url,
            objects=args.objects,
            seed=args.seed,
            workers=args.workers,
            deadline=args.deadline,
            kill_at=tuple(float(f) for f in args.kill_at.split(",")),
            say=lambda line: print(line, flush=True),
        )
        stack.disable()
    for line in result.lines():
        print(line)
    if not result.ok:
        print("worker logs: " + " ".join(result.worker_logs))
    else:
        for log in result.worker_logs:
            Path(log).unlink(missing_ok=True)
    return 0 if result.ok else 1


def _rows_held(rows: list[str], shown: int = 5) -> str:
    """'12 rows (invoice #3, invoice #4, … and 7 more)': a drain holds whole batches."""
    if not rows:
        return "no row"
    more = f", … and {len(rows) - shown} more" if len(rows) > shown else ""
    return f"{len(rows)} row(s) ({', '.join(rows[:shown])}{more})"


if __name__ == "__main__":
    sys.exit(main())
