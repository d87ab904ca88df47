"""Sync lag (issue 15): how long after its commit each saved invoice is synced, under a steady
stream of saves.

This process saves ``--rate`` invoices a second (each with one line, in its own transaction,
across ``--businesses`` businesses) for ``--seconds`` seconds, noting when each committed; real
``celery worker`` processes (prefork, ``--workers`` pool processes, default one) push them to
the fake Thredfi answering ``--latency-ms`` later. An invoice's lag is commit → its sync-state
row's ``last_synced_at`` (stamped as its outcome is recorded). Target, at 100 invoices/s for
60 s, 10 ms API, one worker process: p50 <= 30 ms, p99 <= 100 ms.

    .venv/bin/python benchmarks/sync_lag.py [--rate 100] [--seconds 60] [--latency-ms 10]
        [--businesses 5] [--workers 1] [--async-commit] [--updates 0]

``--updates F`` makes that share of the saves edits (memo and a line's quantity) of invoices
created and synced in an untimed setup, each edited once. An edit's lag is commit → its row's
``synced_version`` passing the version read before the edit (``last_synced_at`` of that push).
Its row existed before the save, so its stages are commit → push begun → recorded.

The sweep (beat) is not run: it only re-sends rows pending for SWEEP_STALE_SECONDS (60 s), so it
plays no part in a lag measured in milliseconds. Needs PostgreSQL and Redis on 127.0.0.1
(benchmarks/settings.py). Nothing here asserts.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import harness  # noqa: E402
from benchmarks.harness import percentile, synced_invoices, synced_versions  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=100.0, help="invoices saved per second")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--latency-ms", type=float, default=10.0)
    parser.add_argument("--businesses", type=int, default=5)
    parser.add_argument("--workers", type=int, default=1, help="worker pool processes")
    parser.add_argument(
        "--async-commit",
        action="store_true",
        help="worker sessions with synchronous_commit=off: what the commits of a drain cost",
    )
    parser.add_argument(
        "--updates",
        type=float,
        default=0.0,
        help="share (0..1) of the saves that edit an invoice synced in the setup",
    )
    args = parser.parse_args(argv)
    if not 0 <= args.updates <= 1:
        parser.error("--updates is a share between 0 and 1")

    harness.setup_django()

    from tests.testapp.models import Customer
    from thredfi_django.engine import absorb
    from thredfi_django.engine.drain import sync_state
    from thredfi_django.models import SyncAttempt, SyncState, SyncStatus

    with harness.bench_database(), harness.live_fake() as fake:
        print(harness.describe_environment())
        print(f"load average before: {os.getloadavg()}")
        fake.set_faults(slow_rate=1.0, slow_seconds=args.latency_ms / 1000)
        accounts = harness.build_accounts(args.businesses)
        customers = [Customer.objects.create(account=a, name="Regular") for a in accounts]
        absorb.absorb_all()
        for state_id in SyncState.objects.order_by("pk").values_list("pk", flat=True):
            sync_state(state_id, worker="bench-setup")  # businesses and customers, not timed

        total = int(args.rate * args.seconds)
        is_edit = [int((i + 1) * args.updates) > int(i * args.updates) for i in range(total)]
        with harness.celery_worker(
            fake, concurrency=args.workers, async_commit=args.async_commit
        ) as worker:
            # The invoices to edit: created and synced before the clock starts.
            pool: list[str] = []
            if any(is_edit):
                owners = list(zip(accounts, customers, strict=True))
                pool = harness.queue_backlog(owners, sum(is_edit), "U")
            if not harness.wait_until(
                lambda: synced_invoices(pool) >= len(pool), timeout=60 + len(pool)
            ):
                raise SystemExit("the invoices to edit did not all sync in the setup")
            version_before = synced_versions(pool)
            setup_drains = len(harness.task_runtimes(worker, "thredfi_django.drain_pending"))

            requests_before = harness.http_stats(fake)["requests"]
            cpu_before = harness.cpu_seconds()
            committed: dict[str, dt.datetime] = {}
            edited: dict[str, dt.datetime] = {}
            to_edit = iter(pool)
            start = time.perf_counter()
            for i in range(total):
                time.sleep(max(0.0, start + i / args.rate - time.perf_counter()))
                if is_edit[i]:
                    object_id = next(to_edit)
                    harness.edit_invoice(object_id, f"Edited {i}")
                    edited[object_id] = dt.datetime.now(dt.timezone.utc)
                    continue
                account, customer = accounts[i % len(accounts)], customers[i % len(accounts)]
                invoice = harness.save_invoice(account, customer, f"L-{i:06d}")
                committed[str(invoice.pk)] = dt.datetime.now(dt.timezone.utc)
            offered = time.perf_counter() - start
            ids = list(committed)

            def edits_synced() -> int:
                versions = synced_versions(list(edited))
                return sum(versions[o] > version_before[o] for o in edited)

            harness.wait_until(lambda: synced_invoices(ids) >= len(ids), timeout=60 + total / 20)
            harness.wait_until(lambda: edits_synced() >= len(edited), timeout=60 + total / 20)
            cpu = harness.cpu_delta(cpu_before, harness.cpu_seconds())
            requests_after = harness.http_stats(fake)["requests"]
            drains = harness.task_runtimes(worker, "thredfi_django.drain_pending")[setup_drains:]

        lags: list[float] = []
        # Where the time goes: commit -> taken in (row created) -> push begun -> recorded.
        stages: dict[str, list[float]] = {"taken in": [], "claimed": [], "pushed": []}
        states = SyncState.objects.filter(resource="invoice", object_id__in=[*ids, *edited])
        last_push = dict(
            SyncAttempt.objects.filter(state__in=states)
            .order_by("state_id", "started_at")
            .values_list("state_id", "started_at")
        )
        edit_lags: list[float] = []
        # An edited row was created in the setup: commit -> push begun -> recorded.
        edit_stages: dict[str, list[float]] = {"to push": [], "pushed": []}
        for state in states:
            if state.status != SyncStatus.SYNCED or state.last_synced_at is None:
                continue
            begun = last_push.get(state.pk, state.last_synced_at)
            if state.object_id in edited:
                if state.synced_version <= version_before[state.object_id]:
                    continue
                commit = edited[state.object_id]
                edit_lags.append(1000 * (state.last_synced_at - commit).total_seconds())
                edit_stages["to push"].append(1000 * (begun - commit).total_seconds())
                edit_stages["pushed"].append(1000 * (state.last_synced_at - begun).total_seconds())
                continue
            commit = committed[state.object_id]
            lags.append(1000 * (state.last_synced_at - commit).total_seconds())
            stages["taken in"].append(1000 * (state.created_at - commit).total_seconds())
            stages["claimed"].append(1000 * (begun - state.created_at).total_seconds())
            stages["pushed"].append(1000 * (state.last_synced_at - begun).total_seconds())
        invoice_requests = sum(
            n - requests_before.get(route, 0)
            for route, n in requests_after.items()
            if "/invoices/" in route
        )
        all_requests = sum(requests_after.values()) - sum(requests_before.values())
        saves = f"{total} invoices"
        if edited:
            saves = f"{total} saves ({len(committed)} new invoices, {len(edited)} edits)"
        print(
            f"offered: {saves} in {offered:.1f} s ({total / offered:.1f}/s, target "
            f"{args.rate:g}/s) over {args.businesses} businesses; API latency {args.latency_ms} ms"
        )
        print(
            f"worker: one celery worker, prefork, {args.workers} pool process(es); "
            f"synchronous_commit: {'off' if args.async_commit else 'on'}"
        )
        print(f"synced: {len(lags)} of {len(ids)}; statuses: {harness.status_counts()}")
        if edited:
            print(f"edits synced: {len(edit_lags)} of {len(edited)}")
        synced = max(1, len(lags) + len(edit_lags))
        print(
            f"requests per synced save: {invoice_requests / synced:.3f} to invoice "
            f"endpoints, {all_requests / synced:.3f} in all"
        )
        if drains:
            print(f"drain tasks run: {len(drains)}, mean {1000 * sum(drains) / len(drains):.1f} ms")
        print(f"CPU seconds while offering and draining: {cpu}")
        if lags:
            print_stages(stages)
            print(
                f"SYNC LAG (commit -> synced): {spread(lags)} "
                "(target, one worker process: p50 <= 30 ms, p99 <= 100 ms)"
            )
        if edit_lags:
            print_stages(edit_stages)
            print(f"UPDATE LAG (commit -> its version synced): {spread(edit_lags)}")
        print(f"load average after: {os.getloadavg()}")


def print_stages(stages: dict[str, list[float]]) -> None:
    for stage, ms in stages.items():
        p50, p99 = percentile(ms, 0.5), percentile(ms, 0.99)
        print(f"  {stage:9s} p50 {p50:4.0f} ms, p99 {p99:4.0f} ms")


def spread(lags: list[float]) -> str:
    return (
        f"p50 {percentile(lags, 0.5):.0f} ms, p90 {percentile(lags, 0.9):.0f} ms, "
        f"p99 {percentile(lags, 0.99):.0f} ms, max {max(lags):.0f} ms"
    )


if __name__ == "__main__":
    main()
