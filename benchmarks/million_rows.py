"""A million sync-state rows (issue 15): the hot paths cost about what they cost at 10,000.

Builds 10,000 sync-state rows (1 % pending, 1 % failed, the rest synced; 100 businesses; an
attempt row for every failed row and for 1 % of the synced ones, in the last hour) with one
``INSERT … SELECT generate_series`` each, times every operation, grows the table to 1,000,000
rows the same way, and times them again. For each operation it prints the median of ``--runs``
runs at both sizes, their ratio, and (``--plans``) the ``EXPLAIN`` of every statement it ran on
the sync-state table, flagging any sequential scan of it.

Operations: ``engine.leases.claim`` (a batch of DRAIN_BATCH rows), ``engine.sweep.sweep`` (which
re-enqueues every stale pending row, up to SWEEP_LIMIT: 100 at 10,000 rows, 5,000 at a million;
and once with nothing stale, as on a healthy platform),
``admin.dashboard.dashboard_data``, ``manage.py thredfi_status`` and the admin changelist of the
outbox, unfiltered, with each filter, and searched by an external id and by the start of a name.
Claims and sweeps run in a transaction that is rolled back, so every run sees the same table.

    .venv/bin/python benchmarks/million_rows.py [--rows 1000000] [--small 10000] [--plans]

Needs PostgreSQL on 127.0.0.1 (benchmarks/settings.py; DATABASE_URL overrides it).
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import harness  # noqa: E402

BUSINESSES = 100


def build_rows(start: int, stop: int) -> None:
    """Sync-state rows ``start`` < n <= ``stop`` (row n has id n) and their attempt rows."""
    from django.contrib.contenttypes.models import ContentType
    from django.db import connection

    from tests.testapp.models import Account, Customer, Invoice

    business_ct = ContentType.objects.get_for_model(Account).pk
    invoice_ct = ContentType.objects.get_for_model(Invoice).pk
    customer_ct = ContentType.objects.get_for_model(Customer).pk
    # n <= 100: a business (its own business); else an invoice (2 in 3) or a customer, spread
    # over the businesses. Every 100th row pending, every 100th (offset 50) failed.
    status = (
        "CASE WHEN n %% 100 = 7 THEN 'pending' WHEN n %% 100 = 57 THEN 'failed' ELSE 'synced' END"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO thredfi_django_syncstate (
                id, content_type_id, object_id, resource, business_id, external_id, remote_id,
                status, operation, version, synced_version, attempts, next_attempt_at,
                lease_owner, last_error_kind, last_error_status, last_error_code,
                last_error_message, last_error_fields, last_error_at, remote_stale, label,
                last_synced_at, created_at, updated_at
            )
            SELECT
                n,
                CASE WHEN n <= {BUSINESSES} THEN %(business_ct)s
                     WHEN n %% 3 = 0 THEN %(customer_ct)s ELSE %(invoice_ct)s END,
                n::text,
                CASE WHEN n <= {BUSINESSES} THEN 'business'
                     WHEN n %% 3 = 0 THEN 'customer' ELSE 'invoice' END,
                CASE WHEN n <= {BUSINESSES} THEN n ELSE 1 + n %% {BUSINESSES} END,
                'bench:' || n,
                CASE WHEN {status} = 'synced' THEN md5(n::text)::uuid END,
                {status},
                'upsert',
                2,
                CASE WHEN {status} = 'synced' THEN 2 ELSE 1 END,
                CASE WHEN {status} = 'failed' THEN 8 ELSE 0 END,
                CASE WHEN {status} = 'pending' AND n %% 200 = 7
                     THEN now() + interval '5 minutes' END,
                '',
                CASE WHEN {status} = 'failed' THEN 'transient' ELSE '' END,
                CASE WHEN {status} = 'failed' THEN 503 END,
                CASE WHEN {status} = 'failed' THEN 'service_unavailable' ELSE '' END,
                CASE WHEN {status} = 'failed' THEN 'Service unavailable' ELSE '' END,
                '{{}}'::jsonb,
                CASE WHEN {status} = 'failed' THEN now() - (n %% 3600) * interval '1 second' END,
                n %% 1000 = 3,
                'Object ' || n,
                CASE WHEN {status} = 'synced' THEN now() - (n %% 86400) * interval '1 second' END,
                now() - interval '2 days',
                now() - (n %% 864000) * interval '1 second'
            FROM generate_series(%(start)s + 1, %(stop)s) AS n
            """,  # noqa: S608
            {
                "business_ct": business_ct,
                "invoice_ct": invoice_ct,
                "customer_ct": customer_ct,
                "start": start,
                "stop": stop,
            },
        )
        cursor.execute(
            """
            INSERT INTO thredfi_django_syncattempt (
                state_id, started_at, finished_at, outcome, operation, version, http_status,
                error_kind, error_code, message, field_errors, worker
            )
            SELECT id, s.at - interval '80 milliseconds', s.at,
                   CASE WHEN status = 'failed' THEN 'transient_error' ELSE 'success' END,
                   'create', 1, CASE WHEN status = 'failed' THEN 503 ELSE 201 END,
                   CASE WHEN status = 'failed' THEN 'transient' ELSE '' END,
                   last_error_code, last_error_message, '{}'::jsonb, 'bench'
            FROM thredfi_django_syncstate,
                 LATERAL (SELECT now() - (id %% 3600) * interval '1 second' AS at) s
            WHERE id > %(start)s AND (status = 'failed' OR id %% 100 = 11)
            """,
            {"start": start},
        )
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('thredfi_django_syncstate', 'id'), %s)", [stop]
        )
        # What autovacuum does on a live table: statistics, and the visibility map that lets
        # the partial indexes answer counts without reading the table.
        cursor.execute("VACUUM ANALYZE thredfi_django_syncstate")
        cursor.execute("VACUUM ANALYZE thredfi_django_syncattempt")


def operations() -> dict[str, object]:
    """name -> a function running the operation once."""
    from django.core.management import call_command
    from django.db import transaction
    from django.test import Client, override_settings

    from thredfi_django.admin.dashboard import dashboard_data
    from thredfi_django.conf import thredfi_settings
    from thredfi_django.engine import sweep
    from thredfi_django.engine.leases import claim

    def quiet_sweep():
        # Only due retries and expired leases: what a sweep finds on a healthy platform.
        with override_settings(THREDFI={"SWEEP_STALE_SECONDS": 10**9}):
            sweep.sweep()

    def rolled_back(run):
        def operation():
            with transaction.atomic():
                run()
                transaction.set_rollback(True)

        return operation

    from django.contrib.auth import get_user_model

    admin = get_user_model().objects.filter(username="bench").first()
    if admin is None:
        admin = get_user_model().objects.create_superuser("bench", "bench@example.com", "x")
    browser = Client()
    browser.force_login(admin)
    outbox = "/admin/thredfi_django/syncstate/"

    def page(query: str):
        def operation():
            response = browser.get(outbox + query)
            assert response.status_code == 200, response.status_code

        return operation

    return {
        "claim a batch": rolled_back(lambda: claim("bench", int(thredfi_settings.DRAIN_BATCH))),
        "sweep": rolled_back(sweep.sweep),
        "sweep, nothing stale": rolled_back(quiet_sweep),
        "dashboard_data": dashboard_data,
        "thredfi_status": lambda: call_command("thredfi_status", stdout=io.StringIO()),
        "changelist": page(""),
        "changelist ?status=failed": page("?status__exact=failed"),
        "changelist ?model=invoice": page("?content_type__id__exact=" + _invoice_ct()),
        "changelist ?business=7": page("?business=7"),
        "changelist ?age=24h": page("?age=24h"),
        "changelist ?outdated=yes": page("?outdated=yes"),
        "changelist search": page("?q=bench:4242"),
        "changelist search, name": page("?q=object+42"),
    }


def _invoice_ct() -> str:
    from django.contrib.contenttypes.models import ContentType

    from tests.testapp.models import Invoice

    return str(ContentType.objects.get_for_model(Invoice).pk)


def measure(runs: int, plans: bool) -> dict[str, tuple[float, list[str]]]:
    """name -> (median seconds, the EXPLAIN of each distinct statement on the state table)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    results = {}
    for name, operation in operations().items():
        operation()  # warm: caches, prepared plans
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            operation()
            times.append(time.perf_counter() - started)
        explained: list[str] = []
        if plans:
            with CaptureQueriesContext(connection) as captured:
                operation()
            explained = explain(captured.captured_queries)
            slowest = max(captured.captured_queries, key=lambda q: float(q["time"]))
            explained.insert(0, f"slowest statement: {slowest['time']} s: {slowest['sql'][:300]}")
        results[name] = (statistics.median(times), explained)
    return results


def explain(queries: list[dict]) -> list[str]:
    from django.db import connection

    plans = []
    seen = set()
    for query in queries:
        sql = query["sql"]
        if "thredfi_django_syncstate" not in sql or sql in seen:
            continue
        if not sql.lstrip().upper().startswith(("SELECT", "UPDATE", "WITH")):
            continue
        seen.add(sql)
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN " + sql)
            plan = "\n".join(row[0] for row in cursor.fetchall())
        plans.append(f"{sql[:300]}{' …' if len(sql) > 300 else ''}\n{plan}")
    return plans


def sequential_scans(plans: list[str]) -> int:
    return sum(
        line.count("Seq Scan on thredfi_django_syncstate")
        for plan in plans
        for line in plan.splitlines()
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--plans", action="store_true", help="print the EXPLAIN plans")
    args = parser.parse_args()
    harness.setup_django()
    with harness.bench_database():
        started = time.perf_counter()
        build_rows(0, args.small)
        print(f"built {args.small:,} rows in {time.perf_counter() - started:.1f} s", flush=True)
        small = measure(args.runs, plans=False)
        started = time.perf_counter()
        build_rows(args.small, args.rows)
        print(f"built {args.rows:,} rows in {time.perf_counter() - started:.1f} s", flush=True)
        large = measure(args.runs, plans=True)

    print(f"\n{'operation':<28} {args.small:>10,} {args.rows:>12,}   ratio  seq scans")
    for name, (seconds, _plans) in small.items():
        big, plans = large[name]
        print(
            f"{name:<28} {seconds * 1000:>8.1f}ms {big * 1000:>10.1f}ms {big / seconds:>7.1f}"
            f"  {sequential_scans(plans)}"
        )
    if args.plans:
        for name, (_seconds, plans) in large.items():
            print(f"\n=== {name} ({args.rows:,} rows)")
            for plan in plans:
                print(plan, end="\n\n")


if __name__ == "__main__":
    main()
