"""Whole-pipeline throughput vs a bare ``requests.Session`` loop (issue 6).

Pipeline: ``save()`` → outbox row → Celery task on Redis → one real ``celery worker`` process
(prefork, concurrency 1) → HTTP to the fake Thredfi on 127.0.0.1 → sync state updated.
Baseline: one ``requests.Session`` posting the very same invoice payloads (new external_ids) to
the same server with a cached business token, in a loop. Target: pipeline / bare >= 0.7.

Businesses and customers are synced first (not timed); the figures are for ``--invoices``
invoices (default 500) with ``--lines`` lines each (default 1). Two pipeline figures:
- drain: the invoices are saved while the worker's consumer is cancelled, then the consumer is
  added back and the clock runs until every invoice is synced (the worker's throughput);
- end to end: saves and pushes overlap, clock from the first save to the last synced row.
Both end at the last invoice's ``last_synced_at`` as the worker stamped it.

    .venv/bin/python benchmarks/throughput.py [--invoices 500] [--lines 1] [--latency-ms 0]
        [--concurrency 1] [--conn-max-age SECONDS] [--async-commit] [--profile]

``--latency-ms 50`` makes the fake answer every request 50 ms later, as a remote API would; the
script then also prints the drain per worker process against in-flight / latency (issue 15:
target >= 0.8 of DRAIN_HTTP_CONCURRENCY / latency), a bare loop with as many in flight, and what
one request costs here when sent alone (the most in-flight threads could reach on this machine).
``--profile`` also drains 300 more invoices inline in this process under cProfile and prints
where the time goes. Needs PostgreSQL and Redis on 127.0.0.1 (benchmarks/settings.py).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import harness  # noqa: E402


def bare_loop(
    fake, calls: list[tuple[str, dict]], partner: tuple[str, str], *, trust_env: bool = True
) -> float:
    """POST each (path, payload) with one Session; tokens fetched once per business (timed).
    ``trust_env=False`` is the same loop with the environment read once, as our client does."""
    import requests

    started = time.perf_counter()
    session = requests.Session()
    session.trust_env = trust_env
    partner_token = session.post(
        f"{fake.url}/v1/platform/oauth2/token/",
        auth=partner,
        data={"grant_type": "client_credentials"},
        timeout=30,
    ).json()["access_token"]
    business_tokens: dict[str, str] = {}
    for path, payload in calls:
        business_id = path.split("/")[4]
        if business_id not in business_tokens:
            business_tokens[business_id] = session.post(
                f"{fake.url}/v1/platform/{business_id}/oauth2/token/",
                headers={"Authorization": f"Bearer {partner_token}"},
                timeout=30,
            ).json()["access_token"]
        response = session.post(
            f"{fake.url}{path}",
            json=payload,
            headers={"Authorization": f"Bearer {business_tokens[business_id]}"},
            timeout=30,
        )
        if response.status_code >= 300:
            raise RuntimeError(f"bare POST {path} answered {response.status_code}: {response.text}")
    return time.perf_counter() - started


def bare_threads(
    fake, calls: list[tuple[str, dict]], partner: tuple[str, str], threads: int
) -> float:
    """The same POSTs with ``threads`` in flight (a Session per thread, trust_env off, tokens
    fetched before the clock starts): what a client that did nothing else could reach against
    this fake with as many requests in flight as a worker process keeps."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    import requests

    session = requests.Session()
    partner_token = session.post(
        f"{fake.url}/v1/platform/oauth2/token/",
        auth=partner,
        data={"grant_type": "client_credentials"},
        timeout=30,
    ).json()["access_token"]
    tokens = {}
    for path, _payload in calls:
        business_id = path.split("/")[4]
        if business_id not in tokens:
            tokens[business_id] = session.post(
                f"{fake.url}/v1/platform/{business_id}/oauth2/token/",
                headers={"Authorization": f"Bearer {partner_token}"},
                timeout=30,
            ).json()["access_token"]
    local = threading.local()

    def post(call: tuple[str, dict]) -> None:
        if not hasattr(local, "session"):
            local.session = requests.Session()
            local.session.trust_env = False
        path, payload = call
        response = local.session.post(
            f"{fake.url}{path}",
            json=payload,
            headers={"Authorization": f"Bearer {tokens[path.split('/')[4]]}"},
            timeout=30,
        )
        if response.status_code >= 300:
            raise RuntimeError(f"bare POST {path} answered {response.status_code}")

    with ThreadPoolExecutor(threads) as pool:
        started = time.perf_counter()
        list(pool.map(post, calls))
        return time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--invoices", type=int, default=500)
    parser.add_argument("--lines", type=int, default=1)
    parser.add_argument("--businesses", type=int, default=10)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--concurrency", type=int, default=1, help="worker pool processes")
    parser.add_argument(
        "--async-commit",
        action="store_true",
        help="worker sessions with synchronous_commit=off: what the commits of a push cost",
    )
    parser.add_argument(
        "--latency-ms",
        type=float,
        default=0.0,
        help="the fake answers every request this much later (a real API is not on loopback)",
    )
    parser.add_argument(
        "--conn-max-age",
        type=int,
        default=None,
        help="CONN_MAX_AGE for the worker (default: the settings' 0, a connection per task)",
    )
    args = parser.parse_args(argv)

    harness.setup_django()
    from django.conf import settings
    from django.db.models import Max

    from tests.celery_app import app
    from tests.testapp.models import Customer, Invoice
    from thredfi_django.conf import thredfi_settings
    from thredfi_django.engine import absorb, plan
    from thredfi_django.engine.drain import sync_state
    from thredfi_django.models import SyncState, SyncStatus

    def invoice_states(invoices) -> list[str]:
        # Object ids, not sync-state ids: a save only marks its row, and the rows appear when
        # the worker's drain takes the markers in (which belongs in the timing).
        return [str(invoice.pk) for invoice in invoices]

    def all_synced(object_ids: list[str]) -> bool:
        synced = SyncState.objects.filter(
            resource="invoice", object_id__in=object_ids, status=SyncStatus.SYNCED
        ).count()
        return synced >= len(object_ids)

    def seconds_to_last_synced(object_ids: list[str], started: float) -> float:
        # From the worker's own stamps, not from when this process's poll (every 0.1 s)
        # noticed: the poll would add up to 100 ms that is not the drain's.
        last = SyncState.objects.filter(resource="invoice", object_id__in=object_ids).aggregate(
            last=Max("last_synced_at")
        )["last"]
        return last.timestamp() - started

    n = args.invoices
    with harness.bench_database(), harness.live_fake() as fake:
        print(harness.describe_environment())
        print(f"load average before: {os.getloadavg()}")
        if args.latency_ms:
            fake.set_faults(slow_rate=1.0, slow_seconds=args.latency_ms / 1000)
        accounts = harness.build_accounts(args.businesses)
        customers = {a.pk: Customer.objects.create(account=a, name="Regular") for a in accounts}
        absorb.absorb_all()  # take the saves in, as a drain would
        for state_id in SyncState.objects.order_by("pk").values_list("pk", flat=True):
            sync_state(state_id, worker="bench-setup")  # businesses + customers, not timed

        with harness.celery_worker(
            fake,
            concurrency=args.concurrency,
            conn_max_age=args.conn_max_age,
            async_commit=args.async_commit,
        ) as worker:
            queue = app.conf.task_default_queue
            # Drain: tasks pile up while the worker does not consume, then it empties the queue.
            app.control.cancel_consumer(queue, destination=[worker.nodename], reply=True)
            made = harness.build_invoices(
                n, accounts, lines=args.lines, customers=customers, prefix="D"
            )
            states = invoice_states(made)
            cpu_before = harness.cpu_seconds()
            started = time.time()
            app.control.add_consumer(queue, destination=[worker.nodename], reply=True)
            harness.wait_until(lambda: all_synced(states), timeout=60 + 2 * n, interval=0.1)
            drain = seconds_to_last_synced(states, started)
            drain_cpu = harness.cpu_delta(cpu_before, harness.cpu_seconds())
            # End to end: saving and pushing at once.
            started = time.time()
            made = harness.build_invoices(
                n, accounts, lines=args.lines, customers=customers, prefix="E"
            )
            saving = time.time() - started  # this process saving, one by one
            states = invoice_states(made)
            harness.wait_until(lambda: all_synced(states), timeout=60 + 2 * n, interval=0.1)
            end_to_end = seconds_to_last_synced(states, started)
            runtimes = harness.task_runtimes(worker)
        print(f"statuses: {harness.status_counts()}")

        # The same payloads, as creates with fresh external_ids, straight over one Session.
        calls = []
        for invoice in Invoice.objects.filter(number__startswith="D-").select_related(
            "account", "customer"
        ):
            call = plan.plan_upsert(invoice, None, str(invoice.account.thredfi_id))
            calls.append((call.path, {**call.payload, "external_id": f"{call.external_id}-"}))
        partner = (settings.THREDFI["PARTNER_UUID"], settings.THREDFI["API_KEY"])

        def fresh(suffix: str) -> list[tuple[str, dict]]:
            return [(path, {**p, "external_id": p["external_id"] + suffix}) for path, p in calls]

        # Each loop runs twice and the faster run counts: machine noise can only make the
        # baseline look slower, which would flatter the ratio.
        cpu_before = harness.cpu_seconds()
        bare = bare_loop(fake, fresh("bare"), partner)
        bare_cpu = harness.cpu_delta(cpu_before, harness.cpu_seconds())
        bare = min(bare, bare_loop(fake, fresh("bare2"), partner))
        # The same loop with the environment read once (trust_env off), as ThredfiClient does:
        # the ratio against it shows what the pipeline costs beyond that one setting.
        bare_settled = min(
            bare_loop(fake, fresh(f"settled{run}"), partner, trust_env=False) for run in (1, 2)
        )
        print(
            f"invoices per run: {n}, lines each: {args.lines}, "
            f"worker: prefork concurrency {args.concurrency}"
        )
        print(
            f"worker CONN_MAX_AGE: {args.conn_max_age or 0}; synchronous_commit: "
            f"{'off' if args.async_commit else 'on'}; added latency: {args.latency_ms} ms"
        )
        if runtimes:
            runtimes.sort()
            print(
                f"sync_object inside the pool process: {len(runtimes)} tasks, "
                f"mean {1000 * sum(runtimes) / len(runtimes):.1f} ms, "
                f"median {1000 * runtimes[len(runtimes) // 2]:.1f} ms, "
                f"p95 {1000 * runtimes[int(len(runtimes) * 0.95)]:.1f} ms"
            )
        print(f"bare requests.Session loop: {bare:7.2f} s  {n / bare:8.1f} invoices/s")
        print(
            f"same, trust_env off:        {bare_settled:7.2f} s  {n / bare_settled:8.1f} invoices/s"
        )
        print(f"pipeline, drain:            {drain:7.2f} s  {n / drain:8.1f} invoices/s")
        print(f"pipeline, end to end:       {end_to_end:7.2f} s  {n / end_to_end:8.1f} invoices/s")
        print(
            f"  of which saving them (this process, one transaction each, while the worker "
            f"pushes): {saving:.2f} s"
        )
        print(f"CPU seconds, bare loop: {bare_cpu}")
        print(f"CPU seconds, drain:     {drain_cpu}")
        print("(each bare loop: the faster of two runs)")
        print(f"THROUGHPUT RATIO (drain / bare): {bare / drain:.3f}  (target >= 0.7)")
        print(f"throughput ratio (end to end / bare): {bare / end_to_end:.3f}")
        print(f"throughput ratio (drain / bare with trust_env off): {bare_settled / drain:.3f}")
        if args.latency_ms:
            # Issue 15: a worker process keeps DRAIN_HTTP_CONCURRENCY requests in flight, so it
            # cannot push more than in-flight / latency objects a second.
            in_flight = int(thredfi_settings.DRAIN_HTTP_CONCURRENCY)
            ceiling = in_flight / (args.latency_ms / 1000)
            threaded = min(
                bare_threads(fake, fresh(f"threads{run}"), partner, in_flight) for run in (1, 2)
            )
            # What one request costs here beyond the API's latency (client, loopback, the fake,
            # waking up): no client keeps in-flight / latency with these machines' overheads.
            single_calls = fresh("single")[:200]
            single = bare_threads(fake, single_calls, partner, 1) / len(single_calls)
            per_process = n / drain / args.concurrency
            print(
                f"bare loop with {in_flight} in flight (a Session per thread, faster of two): "
                f"{threaded:7.2f} s  {n / threaded:8.1f} invoices/s"
            )
            print(
                f"one request at a time (bare, {len(single_calls)} POSTs): {single * 1000:.2f} ms "
                f"each against a {args.latency_ms:g} ms API, so {in_flight} in flight reach at "
                f"most {in_flight / single:.0f}/s = {in_flight / single / ceiling:.2f} x here"
            )
            print(
                f"DRAIN PER PROCESS: {per_process:.1f} invoices/s = {per_process / ceiling:.2f} x "
                f"in-flight / latency ({in_flight} / {args.latency_ms:g} ms = {ceiling:.0f}/s; "
                f"target >= 0.8), {per_process / (n / threaded):.2f} x the bare loop with "
                f"{in_flight} in flight"
            )
        print(f"load average after: {os.getloadavg()}")

        if args.profile:
            from thredfi_django.engine.drain import drain as drain_inline

            made = harness.build_invoices(
                300, accounts, lines=args.lines, customers=customers, prefix="P"
            )
            ids = invoice_states(made)
            profiler = cProfile.Profile()
            started = time.perf_counter()
            profiler.enable()
            handled = drain_inline(worker="bench-profile")
            profiler.disable()
            inline = time.perf_counter() - started
            print(f"\ninline drain() of {len(ids)} invoices in this process: {inline:.2f} s")
            print(f"rows handled: {handled}; all synced: {all_synced(ids)}")
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(
                "thredfi_django|psycopg/cursor|requests/sessions", 40
            )
            print(out.getvalue())


if __name__ == "__main__":
    main()
