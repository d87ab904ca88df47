"""``THREDFI["RATE_LIMIT"]`` shared by every worker (issue 15): 4 worker processes, 4 threads
each, as fast as they can against the fake Thredfi set to allow ``--server-limit`` requests a
second per business (429 above it, counted over a sliding second). Targets: 429s <= 1 % of
requests, and each business served at >= 90 % of the server's limit.

The workers share one token cache and rate counter (Redis, ``CACHE_URL``), as Celery's prefork
children do. Each request is a ``GET …/customers/`` of one of ``--businesses`` businesses, taken
in turn. Prints, for each business and in all: requests, 429s, and requests answered per second.

    .venv/bin/python benchmarks/rate_limit.py [--seconds 20] [--server-limit 20] [--limit 19]

Needs Redis on 127.0.0.1 (benchmarks/settings.py); no database.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import harness  # noqa: E402

WORKERS = 4
THREADS = 4


def worker(businesses: list[str], until: float, results: multiprocessing.Queue) -> None:
    """One worker process: THREADS threads sending requests until ``until``."""
    from thredfi_django.client import get_client
    from thredfi_django.exceptions import ThredfiAPIError

    counts: Counter[str] = Counter()
    lock = threading.Lock()

    def run(offset: int) -> None:
        client = get_client()
        n = offset
        while time.time() < until:
            business = businesses[n % len(businesses)]
            n += 1
            try:
                client.request(
                    "GET", f"/v1/platform/businesses/{business}/customers/", business_id=business
                )
                outcome = "ok"
            except ThredfiAPIError as err:
                outcome = str(err.status_code)
            with lock:
                counts[f"{business} {outcome}"] += 1

    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results.put(dict(counts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--server-limit", type=int, default=20)
    parser.add_argument("--limit", type=int, default=19, help="RATE_LIMIT['per_business']")
    parser.add_argument("--businesses", type=int, default=2)
    args = parser.parse_args()
    harness.setup_django()
    from django.conf import settings
    from django.test import override_settings

    from thredfi_django.client import get_client
    from thredfi_django.testing.pytest_plugin import _clear_token_cache

    with harness.live_fake() as fake:
        businesses = [
            get_client().request(
                "POST",
                "/v1/platform/businesses/",
                json={
                    "legal_name": f"Tenant {n}",
                    "entity_type": "limited",
                    "email": f"tenant{n}@example.com",
                    "external_id": f"bench:tenant:{n}",
                },
            )["id"]
            for n in range(args.businesses)
        ]
        fake.set_faults(business_requests_per_second=args.server_limit)
        limits = {"global": None, "per_business": args.limit}
        with override_settings(THREDFI={**settings.THREDFI, "RATE_LIMIT": limits}):
            _clear_token_cache()
            results: multiprocessing.Queue = multiprocessing.Queue()
            started = time.time()
            until = started + args.seconds
            context = multiprocessing.get_context("fork")
            processes = [
                context.Process(target=worker, args=(businesses, until, results))
                for _ in range(WORKERS)
            ]
            for process in processes:
                process.start()
            counts: Counter[str] = Counter()
            for _ in processes:
                counts.update(results.get(timeout=args.seconds + 60))
            for process in processes:
                process.join()
            elapsed = time.time() - started

    print(
        f"{WORKERS} processes x {THREADS} threads, {elapsed:.1f} s, server limit "
        f"{args.server_limit}/s per business, RATE_LIMIT per_business={args.limit}"
    )
    total = Counter()
    for business in businesses:
        ok, limited = counts[f"{business} ok"], counts[f"{business} 429"]
        other = sum(n for key, n in counts.items() if key.startswith(business)) - ok - limited
        total.update(ok=ok, limited=limited, other=other)
        print(
            f"business {business[:8]}: {ok + limited + other} requests, {limited} x 429, "
            f"{other} other errors, {ok / elapsed:.1f} answered/s "
            f"({ok / elapsed / args.server_limit:.0%} of the server's limit)"
        )
    sent = total["ok"] + total["limited"] + total["other"]
    print(
        json.dumps(
            {
                "requests": sent,
                "rate_limited": total["limited"],
                "rate_limited_share": round(total["limited"] / max(sent, 1), 4),
                "answered_per_second_per_business": round(
                    total["ok"] / elapsed / len(businesses), 2
                ),
            }
        )
    )


if __name__ == "__main__":
    main()
