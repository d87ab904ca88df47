"""Re-queueing 100,000 objects with ``manage.py thredfi_sync`` (issue 6): time and peak memory.
Targets: < 20 s and < 300 MB.

Builds ``--objects`` invoices (default 100,000) with ``bulk_create`` (no signals, as an import
would), then measures, each in a fresh ``python`` process on the same database and broker:
- record: ``thredfi_sync`` finds the never-recorded invoices, creates their sync-state rows and
  queues them (the first run after installing the app on an existing platform);
- requeue: every row marked synced, then ``thredfi_sync --status all`` puts them all back up.
For each: wall time of the command (in-process, after Django is set up), the process's peak RSS
(``ru_maxrss``) and, in a second run, the peak of Python allocations (``tracemalloc``, which
slows the run; its time is not reported). No worker consumes the queue; it is purged at the end.

    .venv/bin/python benchmarks/requeue.py [--objects 100000] [--profile]

Needs PostgreSQL and Redis on 127.0.0.1 (benchmarks/settings.py).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import harness  # noqa: E402

COMMANDS = {"record": ["thredfi_sync"], "requeue": ["thredfi_sync", "--status", "all"]}


def child(phase: str, trace: bool, profile: bool = False) -> None:
    """Run one thredfi_sync in this process and print JSON figures (the parent reads them)."""
    import cProfile
    import io
    import pstats
    import resource
    import tracemalloc

    harness.setup_django()
    from django.core.management import call_command

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if trace:
        tracemalloc.start()
    out = io.StringIO()
    profiler = cProfile.Profile() if profile else None
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    call_command(*COMMANDS[phase], stdout=out, stderr=out)
    if profiler:
        profiler.disable()
        report = io.StringIO()
        pstats.Stats(profiler, stream=report).sort_stats("cumulative").print_stats(30)
        print(report.getvalue(), file=sys.stderr)
    seconds = time.perf_counter() - started
    figures = {
        "seconds": seconds,
        "rss_before_mb": rss_before,
        "rss_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "output": out.getvalue().strip().splitlines()[-3:],
    }
    if trace:
        figures["tracemalloc_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
    print(json.dumps(figures))


def run_child(phase: str, trace: bool, env: dict[str, str], profile: bool = False) -> dict:
    command = [sys.executable, __file__, "--child", phase]
    command += (["--trace"] if trace else []) + (["--profile"] if profile else [])
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{phase} failed:\n{done.stdout}\n{done.stderr}")
    if profile:
        print(f"--- cProfile of {phase} ---\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--objects", type=int, default=100_000)
    parser.add_argument("--child", choices=sorted(COMMANDS), help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--profile", action="store_true", help="print a cProfile of each (untraced) command"
    )
    args = parser.parse_args(argv)
    if args.child:
        return child(args.child, args.trace, args.profile)

    harness.setup_django()
    import datetime as dt

    from django.db import connection
    from django.db.models import F

    from tests.celery_app import app
    from tests.fixtures.real_services import database_url
    from tests.testapp.models import Invoice
    from thredfi_django.models import SyncState, SyncStatus

    with harness.bench_database():
        print(harness.describe_environment())
        (account,) = harness.build_accounts(1)
        started = time.perf_counter()
        for start in range(0, args.objects, 5000):
            Invoice.objects.bulk_create(
                Invoice(account=account, number=f"R-{i:07d}", issued_on=dt.date(2026, 11, 24))
                for i in range(start, min(start + 5000, args.objects))
            )
        print(f"bulk_create of {args.objects} invoices: {time.perf_counter() - started:.1f} s")
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": os.environ["DJANGO_SETTINGS_MODULE"],
            "DATABASE_URL": database_url(connection.settings_dict),
            "CELERY_TASK_DEFAULT_QUEUE": app.conf.task_default_queue,
        }
        tables = ", ".join(
            connection.ops.quote_name(t)
            for t in ("thredfi_django_syncattempt", "thredfi_django_syncstate")
        )

        def forget_states():
            with connection.cursor() as cursor:
                cursor.execute(f"TRUNCATE {tables}")  # noqa: S608 - quoted table names only

        def all_synced():
            SyncState.objects.update(status=SyncStatus.SYNCED, synced_version=F("version"))

        results = {}
        forget_states()  # the account's row, from its save: start with nothing recorded
        results["record"] = run_child("record", False, env, args.profile)
        rows = SyncState.objects.count()
        pending = SyncState.objects.filter(status=SyncStatus.PENDING).count()
        forget_states()
        results["record"]["tracemalloc_peak_mb"] = run_child("record", True, env)[
            "tracemalloc_peak_mb"
        ]
        all_synced()
        results["requeue"] = run_child("requeue", False, env, args.profile)
        requeued = SyncState.objects.filter(status=SyncStatus.PENDING).count()
        all_synced()
        results["requeue"]["tracemalloc_peak_mb"] = run_child("requeue", True, env)[
            "tracemalloc_peak_mb"
        ]
        app.control.purge()

        print(f"record: {rows} sync-state rows created, {pending} pending")
        print(f"requeue: {requeued} rows pending again")
        for phase, r in results.items():
            print(
                f"{phase:>8}: {r['seconds']:6.2f} s (target < 20 s); "
                f"peak RSS {r['rss_peak_mb']:.0f} MB (after Django setup "
                f"{r['rss_before_mb']:.0f} MB; target < 300 MB); "
                f"tracemalloc peak {r['tracemalloc_peak_mb']:.1f} MB"
            )
            for line in r["output"]:
                print(f"          | {line}")


if __name__ == "__main__":
    main()
