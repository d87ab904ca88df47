"""Fairness between tenants (issue 15): business B's new invoices while business A's bulk
re-sync drains.

Business A has ``--backlog`` invoices queued by ``manage.py thredfi_sync`` (the backfill lane);
one real worker process drains them against the fake Thredfi answering in ``--latency-ms``.
Meanwhile this process saves one invoice for business B every ``--every`` seconds for
``--seconds`` seconds, each in its own transaction, and notes when it committed. B's lag is
commit → ``last_synced_at`` of its sync-state row. A's throughput while B saves is compared with
A's throughput alone (the same backlog again, nobody else saving). Targets: B's lag p99 <= 2 s;
A keeps >= 80 % of its throughput.

    .venv/bin/python benchmarks/fairness.py [--backlog 20000] [--latency-ms 10]
        [--seconds 30] [--every 0.5]

Needs PostgreSQL and Redis on 127.0.0.1 (benchmarks/settings.py). Nothing here asserts.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import harness  # noqa: E402
from benchmarks.harness import percentile, synced_invoices  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backlog", type=int, default=20000)
    parser.add_argument("--latency-ms", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--every", type=float, default=0.5)
    args = parser.parse_args(argv)

    harness.setup_django()

    from tests.testapp.models import Customer
    from thredfi_django.engine import absorb
    from thredfi_django.engine.drain import sync_state
    from thredfi_django.models import SyncState

    with harness.bench_database(), harness.live_fake() as fake:
        print(harness.describe_environment())
        fake.set_faults(slow_rate=1.0, slow_seconds=args.latency_ms / 1000)
        a, b = harness.build_accounts(2)
        customer_a = Customer.objects.create(account=a, name="A's customer")
        customer_b = Customer.objects.create(account=b, name="B's customer")
        absorb.absorb_all()
        for state_id in SyncState.objects.order_by("pk").values_list("pk", flat=True):
            sync_state(state_id, worker="bench-setup")  # businesses and customers, not timed

        with harness.celery_worker(fake) as _worker:
            # A alone: its throughput over the same window.
            ids = harness.queue_backlog([(a, customer_a)], args.backlog, "A1")
            start = time.perf_counter()
            time.sleep(args.seconds)
            alone = synced_invoices(ids) / (time.perf_counter() - start)
            harness.wait_until(
                lambda: synced_invoices(ids) >= len(ids), timeout=60 + args.backlog / 20
            )

            # A again, while B saves one invoice every ``--every`` seconds.
            ids = harness.queue_backlog([(a, customer_a)], args.backlog, "A2")
            start = time.perf_counter()
            committed: dict[str, dt.datetime] = {}
            for i in range(int(args.seconds / args.every)):
                next_at = start + (i + 1) * args.every
                invoice = harness.save_invoice(b, customer_b, f"B-{i:04d}")
                committed[str(invoice.pk)] = dt.datetime.now(dt.timezone.utc)
                time.sleep(max(0.0, next_at - time.perf_counter()))
            shared = synced_invoices(ids) / (time.perf_counter() - start)
            b_ids = list(committed)
            harness.wait_until(lambda: synced_invoices(b_ids) >= len(b_ids), timeout=120)
            harness.wait_until(
                lambda: synced_invoices(ids) >= len(ids), timeout=60 + args.backlog / 20
            )

        lags = []
        for state in SyncState.objects.filter(resource="invoice", object_id__in=b_ids):
            if state.last_synced_at is not None:
                lags.append((state.last_synced_at - committed[state.object_id]).total_seconds())
        print(f"backlog: {args.backlog} invoices of business A (thredfi_sync, backfill lane)")
        print(f"API latency: {args.latency_ms} ms; one worker process (prefork, concurrency 1)")
        print(f"B saved {len(b_ids)} invoices, one every {args.every} s; synced {len(lags)}")
        if lags:
            print(
                f"B LAG (commit -> synced): p50 {percentile(lags, 0.5):.3f} s, "
                f"p99 {percentile(lags, 0.99):.3f} s, max {max(lags):.3f} s (target p99 <= 2 s)"
            )
        print(
            f"A throughput: alone {alone:.1f} invoices/s, while B saves {shared:.1f}/s; "
            f"RATIO {shared / alone:.3f} (target >= 0.8)"
        )


if __name__ == "__main__":
    main()
