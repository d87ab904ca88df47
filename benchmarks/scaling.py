"""Worker processes vs throughput (issue 15): does 1 → 4 processes give >= 3.5 times as much?

``--invoices`` invoices (default 2,000) over ``--businesses`` businesses (default 20), their
customers synced beforehand so each invoice is one request, queued by ``manage.py thredfi_sync``
(one wake-up, as one save sends) while the worker does not consume; then the worker consumes and
the clock runs from the first claim to the last synced row. The fake Thredfi answers every
request ``--latency-ms`` later (default 50; it serves each connection on a thread of its own).
RATE_LIMIT is off. Each process count gets fresh rows and a fresh worker.

The worker is one ``celery worker --pool=prefork --concurrency N``, as a host deploys it (one
worker per machine, one process per core); each process keeps DRAIN_HTTP_CONCURRENCY requests in
flight. Prints, per process count: invoices/s and the ratio to one process, how many rows each
process pushed and when it started, and CPU seconds per group of processes. With ``--runs R``
each count runs R times and the fastest counts (noise only ever slows a run down).

    .venv/bin/python benchmarks/scaling.py [--invoices 2000] [--businesses 20]
        [--latency-ms 50] [--processes 1 2 4] [--runs 1]

Needs PostgreSQL and Redis on 127.0.0.1 (benchmarks/settings.py). Nothing here asserts.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import harness  # noqa: E402
from benchmarks.harness import synced_invoices  # noqa: E402


class CpuMeter:
    """CPU seconds (user + system) of this run's processes only (the machine is shared): each
    worker process (the worker's process group), the PostgreSQL backends serving this database
    (but this process's own), the fake, and this process. Read often: a process that exits
    takes the CPU it used since the last reading with it."""

    def __init__(self, worker_group: int, fake_pid: int, database: str, bench_backend: int):
        self.worker_group, self.fake_pid = worker_group, fake_pid
        self.database, self.bench_backend = database, bench_backend
        self.start: dict[int, float] = {}
        self.last: dict[int, tuple[str, float]] = {}
        self.start = {pid: used for pid, (_key, used) in self._read().items()}

    def _read(self) -> dict[int, tuple[str, float]]:
        tick = os.sysconf("SC_CLK_TCK")
        seen = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except (OSError, UnicodeDecodeError):
                continue
            pid = int(entry.name)
            if int(fields[2]) == self.worker_group:  # the process group
                key = f"worker {pid}"
            elif cmdline.startswith("postgres:") and f" {self.database} " in cmdline:
                key = "bench" if pid == self.bench_backend else "postgres"
            elif pid == self.fake_pid:
                key = "fake"
            elif pid == os.getpid():
                key = "bench"
            else:
                continue
            seen[pid] = (key, (int(fields[11]) + int(fields[12])) / tick)
        return seen

    def read(self) -> None:
        self.last.update(self._read())

    def used(self) -> dict[str, float]:
        """CPU seconds used since the meter was made, by key."""
        totals: dict[str, float] = {}
        for pid, (key, used) in self.last.items():
            totals[key] = totals.get(key, 0.0) + used - self.start.get(pid, 0.0)
        return totals


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--invoices", type=int, default=2000)
    parser.add_argument("--businesses", type=int, default=20)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--runs", type=int, default=1, help="runs per count; the fastest counts")
    args = parser.parse_args(argv)

    harness.setup_django()
    from django.conf import settings
    from django.db import connection
    from django.db.models import Count, Max, Min

    from tests.celery_app import app
    from tests.testapp.models import Customer
    from thredfi_django.engine import absorb
    from thredfi_django.engine.drain import sync_state
    from thredfi_django.models import SyncAttempt, SyncState

    fastest: dict[int, tuple] = {}  # processes -> the fastest run's figures
    with harness.bench_database() as database, harness.live_fake() as fake:
        print(harness.describe_environment())
        print(f"load average before: {os.getloadavg()}")
        fake.set_faults(slow_rate=1.0, slow_seconds=args.latency_ms / 1000)
        accounts = harness.build_accounts(args.businesses)
        customers = {a.pk: Customer.objects.create(account=a, name="Regular") for a in accounts}
        absorb.absorb_all()
        for state_id in SyncState.objects.order_by("pk").values_list("pk", flat=True):
            sync_state(state_id, worker="bench-setup")  # businesses and customers, not timed
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            bench_backend = cursor.fetchone()[0]

        for processes, run in [(p, r) for p in args.processes for r in range(args.runs)]:
            # Database connections kept between drain tasks, as a host runs a busy worker.
            with harness.celery_worker(fake, concurrency=processes, conn_max_age=600) as worker:
                queue = app.conf.task_default_queue
                app.control.cancel_consumer(queue, destination=[worker.nodename], reply=True)
                owners = [(account, customers[account.pk]) for account in accounts]
                ids = harness.queue_backlog(owners, args.invoices, f"P{processes}R{run}")

                meter = CpuMeter(worker.pid, fake.process.pid, database, bench_backend)
                started = time.perf_counter()
                app.control.add_consumer(queue, destination=[worker.nodename], reply=True)

                def done(ids=ids, meter=meter) -> bool:
                    meter.read()
                    return synced_invoices(ids) >= len(ids)

                harness.wait_until(done, timeout=120 + args.invoices / 5, interval=0.25)
                wall = time.perf_counter() - started
                drains = sum(
                    "drain_pending[" in line and line.endswith("received")
                    for line in worker.log_text().splitlines()
                )
            used = meter.used()
            rows = SyncState.objects.filter(resource="invoice", object_id__in=ids)
            attempts = SyncAttempt.objects.filter(state__in=rows)
            first_claim = attempts.aggregate(t=Min("started_at"))["t"]
            last_synced = rows.aggregate(t=Max("last_synced_at"))["t"]
            seconds = (last_synced - first_claim).total_seconds()
            per_process = list(
                attempts.values("worker").annotate(
                    n=Count("pk"), first=Min("started_at"), last=Max("finished_at")
                )
            )
            done_count = synced_invoices(ids)
            print(f"{processes} process(es): {done_count}/{len(ids)} synced in {seconds:.2f} s")
            best = fastest.get(processes)
            if best is None or seconds < best[1]:
                figures = (processes, seconds, wall, used, drains, per_process, first_claim)
                fastest[processes] = figures

    threads = settings.THREDFI.get("DRAIN_HTTP_CONCURRENCY", 4)
    print(
        f"\n{args.invoices} invoices over {args.businesses} businesses per run, API latency "
        f"{args.latency_ms} ms, RATE_LIMIT off; one prefork worker (--concurrency N), "
        f"{threads} HTTP threads per process; the fastest of {args.runs} run(s) per count"
    )
    base = None
    for processes, seconds, wall, used, drains, per_process, first_claim in fastest.values():
        rate = args.invoices / seconds
        base = base or (processes, rate)
        print(
            f"\n{processes} process(es): {seconds:6.2f} s first claim -> last synced "
            f"({wall:.2f} s from consuming), {rate:6.1f} invoices/s, RATIO TO "
            f"{base[0]} PROCESS(ES) {rate / base[1]:.2f}; {drains} drain task(s) received"
        )
        for row in sorted(per_process, key=lambda r: r["first"]):
            pid = row["worker"].rsplit(":", 1)[-1]
            print(
                f"  process {pid:>7}: {row['n']:5d} rows, first claim at "
                f"+{(row['first'] - first_claim).total_seconds():.2f} s, last record at "
                f"+{(row['last'] - first_claim).total_seconds():.2f} s, "
                f"CPU {used.get(f'worker {pid}', 0):.2f} s"
            )
        workers = sum(v for k, v in used.items() if k.startswith("worker "))
        groups = {
            "worker processes": workers,
            "their PostgreSQL backends": used.get("postgres", 0.0),
            "fake": used.get("fake", 0.0),
            "bench (polling)": used.get("bench", 0.0),
        }
        print(
            "  CPU ms per invoice: "
            + ", ".join(f"{k} {1000 * v / args.invoices:.2f}" for k, v in groups.items())
            + f"; all {1000 * sum(groups.values()) / args.invoices:.2f} "
            f"({sum(groups.values()) / seconds:.2f} cores busy)"
        )
    print(f"\nload average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
