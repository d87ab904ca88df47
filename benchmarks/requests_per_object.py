"""HTTP requests per synced object, token requests included, from cold caches (issue 6).

Builds ``--invoices`` invoices (default 1,000), each with its own customer, over ``--businesses``
businesses (default 10), saved one by one while a real celery worker process (prefork,
concurrency 1) pushes them to the fake Thredfi over HTTP on 127.0.0.1. Counts every request the
fake received (its ``/__fake__/stats``), divided by the objects synced. Target: <= 1.02.

    .venv/bin/python benchmarks/requests_per_object.py [--invoices 1000] [--businesses 10]
        [--shared-customers] [--inline] [--concurrency 1]

``--inline`` pushes in this process (``sync_state`` per row, in id order) instead of a worker.
Needs PostgreSQL and Redis on 127.0.0.1 (see benchmarks/settings.py for the URLs).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import harness  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--invoices", type=int, default=1000)
    parser.add_argument("--businesses", type=int, default=10)
    parser.add_argument("--shared-customers", action="store_true", help="one customer per business")
    parser.add_argument("--inline", action="store_true", help="push in this process")
    parser.add_argument(
        "--concurrency", type=int, default=1, help="worker pool processes (token races)"
    )
    args = parser.parse_args(argv)

    harness.setup_django()
    from django.db.models import Count

    from tests.testapp.models import Customer
    from thredfi_django.engine import absorb
    from thredfi_django.engine.drain import sync_state
    from thredfi_django.models import SyncState

    with harness.bench_database(), harness.live_fake() as fake:
        print(harness.describe_environment())
        harness.reset_fake(fake)  # cold: no records, no tokens issued or cached

        def build():
            accounts = harness.build_accounts(args.businesses)
            shared = None
            if args.shared_customers:
                shared = {a.pk: Customer.objects.create(account=a, name="Shared") for a in accounts}
            harness.build_invoices(args.invoices, accounts, customers=shared)

        started = time.perf_counter()
        if args.inline:
            build()
            absorb.absorb_all()  # take the saves in, as a drain would
            for state_id in SyncState.objects.order_by("pk").values_list("pk", flat=True):
                sync_state(state_id, worker="bench-inline")
            statuses = harness.status_counts()
        else:
            with harness.celery_worker(fake, concurrency=args.concurrency):
                build()
                statuses = harness.wait_until_settled(timeout=60 + args.invoices)
        elapsed = time.perf_counter() - started

        stats = harness.http_stats(fake)
        objects = SyncState.objects.count()
        synced = statuses.get("synced", 0)
        by_resource = dict(
            SyncState.objects.values_list("resource").order_by("resource").annotate(n=Count("pk"))
        )
        mode = f"celery worker (prefork, concurrency {args.concurrency})"
        print(f"mode: {'inline' if args.inline else mode}")
        print(f"objects: {objects} {by_resource}; statuses: {statuses}")
        print("requests by endpoint:")
        for endpoint, n in sorted(stats["requests"].items()):
            print(f"  {n:7d}  {endpoint}")
        print(f"tokens issued: {stats['tokens_issued']}")
        print(f"total requests: {stats['total_requests']} in {elapsed:.1f} s")
        ratio = stats["total_requests"] / synced if synced else float("inf")
        print(f"REQUESTS PER SYNCED OBJECT: {ratio:.4f}  (target <= 1.02; {synced} synced)")


if __name__ == "__main__":
    main()
