"""Database queries per synced invoice, for invoices of 1 and of 50 lines (issue 6).

Target: the same number of queries whatever the number of lines (no N+1). Counts, with Django's
``CaptureQueriesContext``, the queries of one push (``sync_state``: claim, load, HTTP, record
the outcome) for a create and for an update, and of saving the invoice with its lines (one
transaction, as a form would). Business and customer are synced beforehand.

    .venv/bin/python benchmarks/queries_per_object.py [--invoices 10] [--lines 1 50] [--sql]

``--sql`` prints every query of the first create push of each size. Needs PostgreSQL and Redis
on 127.0.0.1 (benchmarks/settings.py).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import harness  # noqa: E402


def summary(counts: list[int]) -> str:
    return (
        f"mean {statistics.mean(counts):5.1f}  min {min(counts):3d}  max {max(counts):3d}"
        f"  (n={len(counts)})"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--invoices", type=int, default=10, help="invoices of each size")
    parser.add_argument("--lines", type=int, nargs="+", default=[1, 50])
    parser.add_argument("--sql", action="store_true", help="print the queries of one push")
    args = parser.parse_args(argv)

    harness.setup_django()
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    from tests.testapp.models import Customer
    from thredfi_django.engine import absorb
    from thredfi_django.engine.drain import sync_state
    from thredfi_django.models import SyncStatus

    with harness.bench_database(), harness.live_fake():
        print(harness.describe_environment())
        accounts = harness.build_accounts(1)
        customer = Customer.objects.create(account=accounts[0], name="Regular")
        for obj in (accounts[0], customer):
            sync_state(absorb.state_for(obj).pk, worker="bench-setup")
        customers = {accounts[0].pk: customer}

        rows = []
        for lines in args.lines:
            saves, creates, updates = [], [], []
            for i in range(args.invoices):
                with CaptureQueriesContext(connection) as saved:
                    (invoice,) = harness.build_invoices(
                        1, accounts, lines=lines, customers=customers, prefix=f"L{lines}-{i}"
                    )
                saves.append(len(saved))
                state = absorb.state_for(invoice)
                with CaptureQueriesContext(connection) as pushed:
                    result = sync_state(state.pk, worker="bench")
                if result.outcome != SyncStatus.SYNCED and result.outcome != "synced":
                    raise SystemExit(f"push of a {lines}-line invoice: {result}")
                creates.append(len(pushed))
                if args.sql and i == 0:
                    print(f"\n-- queries of one create push, {lines} line(s):")
                    for q in pushed.captured_queries:
                        print("  ", q["sql"][:160])
                invoice.memo = "changed"
                with transaction.atomic():
                    invoice.save()
                # state_for() takes the save's marker in (the drain's job): not the push's.
                state = absorb.state_for(invoice)
                with CaptureQueriesContext(connection) as pushed:
                    result = sync_state(state.pk, worker="bench")
                updates.append(len(pushed))
            rows.append((lines, saves, creates, updates))

        print()
        for lines, saves, creates, updates in rows:
            print(f"{lines:3d} line(s): save invoice+lines  {summary(saves)}")
            print(f"{lines:3d} line(s): push (create)      {summary(creates)}")
            print(f"{lines:3d} line(s): push (update)      {summary(updates)}")
        first, last = rows[0], rows[-1]
        print(
            f"PUSH QUERIES, {first[0]} vs {last[0]} lines: create "
            f"{statistics.mean(first[2]):.1f} vs {statistics.mean(last[2]):.1f}, update "
            f"{statistics.mean(first[3]):.1f} vs {statistics.mean(last[3]):.1f} (target: equal)"
        )


if __name__ == "__main__":
    main()
