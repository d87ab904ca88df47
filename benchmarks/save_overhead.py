"""What thredfi_django adds to a host model's ``save()`` (issue 6). Target: ratio <= 1.5.

Saves the test app's synced ``Invoice`` and ``PlainInvoice`` (benchmarks/benchapp: the same
fields, no mixin) the same number of times: creates and then updates of one field, each save in
its own transaction (autocommit), and creates inside the host's own ``transaction.atomic()`` (a
view under ATOMIC_REQUESTS). The synced save also sets its change marker (``thredfi_dirty``, a
column of the same row, in the same statement) and, after commit, asks for a drain: coalesced,
at most one ``drain_pending`` task per DRAIN_KICK_INTERVAL, published by a daemon thread; nothing
consumes the queue here (the markers are absorbed into the outbox by the drain, not the save).
Rounds alternate between the two models; the figure is the median over rounds.

    .venv/bin/python benchmarks/save_overhead.py [--saves 2000] [--rounds 10] [--profile]

Set CELERY_BROKER_URL=memory:// to leave out the broker round trip (default: Redis).
Needs PostgreSQL on 127.0.0.1 (benchmarks/settings.py).
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import io
import pstats
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import harness  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--saves", type=int, default=2000, help="saves of each model and kind")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--profile", action="store_true", help="cProfile 500 synced creates")
    args = parser.parse_args(argv)

    harness.setup_django()
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from benchmarks.benchapp.models import PlainInvoice
    from tests.celery_app import app
    from tests.testapp.models import Customer, Invoice

    per_round = max(1, args.saves // args.rounds)
    with harness.bench_database():
        print(harness.describe_environment())
        (account,) = harness.build_accounts(1)
        customer = Customer.objects.create(account=account, name="Regular")
        fields = {
            "account": account,
            "customer": customer,
            "issued_on": dt.date(2026, 11, 24),
            "due_on": dt.date(2026, 12, 24),
        }

        def creates(model, n, tag):
            started = time.perf_counter()
            made = [model.objects.create(number=f"{tag}-{i}", **fields) for i in range(n)]
            return (time.perf_counter() - started) / n, made

        def atomic_creates(model, n, tag):
            # A view under ATOMIC_REQUESTS: the host's own transaction around the save.
            started = time.perf_counter()
            for i in range(n):
                with transaction.atomic():
                    model.objects.create(number=f"{tag}-{i}", **fields)
            return (time.perf_counter() - started) / n

        def updates(objects):
            started = time.perf_counter()
            for obj in objects:
                obj.memo = f"changed {time.perf_counter()}"
                obj.save()
            return (time.perf_counter() - started) / len(objects)

        creates(Invoice, 50, "warm")
        creates(PlainInvoice, 50, "warm")
        kinds = ("create", "update", "create in atomic()")
        timings = {(m, k): [] for m in ("synced", "plain") for k in kinds}
        for r in range(args.rounds):
            order = [("synced", Invoice), ("plain", PlainInvoice)]
            for name, model in order if r % 2 == 0 else order[::-1]:
                seconds, made = creates(model, per_round, f"r{r}")
                timings[(name, "create")].append(seconds)
                timings[(name, "update")].append(updates(made))
                timings[(name, "create in atomic()")].append(
                    atomic_creates(model, per_round, f"a{r}")
                )

        with CaptureQueriesContext(connection) as synced_q:
            obj = Invoice.objects.create(number="q", **fields)
        with CaptureQueriesContext(connection) as plain_q:
            PlainInvoice.objects.create(number="q", **fields)
        app.control.purge()

        print(f"{per_round} saves x {args.rounds} rounds per model and kind")
        print(f"queries per create: synced {len(synced_q)}, plain {len(plain_q)}")
        for q in synced_q.captured_queries:
            print("   ", q["sql"][:120])
        for kind in kinds:
            synced = statistics.median(timings[("synced", kind)])
            plain = statistics.median(timings[("plain", kind)])
            print(
                f"{kind:>18}: synced {1e6 * synced:6.0f} us/save, plain {1e6 * plain:6.0f} "
                f"us/save, SAVE OVERHEAD RATIO {synced / plain:.2f} (target <= 1.5)"
            )
        del obj

        if args.profile:
            profiler = cProfile.Profile()
            profiler.enable()
            creates(Invoice, 500, "profile")
            profiler.disable()
            app.control.purge()
            out = io.StringIO()
            stats = pstats.Stats(profiler, stream=out)
            stats.sort_stats("cumulative").print_stats(30)
            stats.sort_stats("tottime").print_stats(15)
            print(out.getvalue())


if __name__ == "__main__":
    main()
