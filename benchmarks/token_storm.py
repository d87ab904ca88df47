"""Tokens for many businesses (issue 15): one token per business per lifetime, no refresh storm.

Round 1 creates ``--businesses`` businesses (default 10,000) with one customer each, one business
per transaction, while real celery workers (prefork, ``--concurrency`` 2) push them to the fake
Thredfi over HTTP. The fake's tokens live ``--token-ttl`` seconds (default 120, standing in for an
hour). Once every token of round 1 has expired, round 2 saves one more customer per business.

Per round it prints the token requests (partner, business), the bound — one partner token per
refresh interval the round lasted (one, when a round fits in one) plus one token per business —
requests per object, and the most token requests the fake answered in one second. After round 1
it reads the tokens from the shared cache and prints when they were fetched against when they
come due (``TOKEN_REFRESH_JITTER`` spreads the latter).

    .venv/bin/python benchmarks/token_storm.py [--businesses 10000] [--token-ttl 120]
        [--margin 10] [--jitter 0.1] [--concurrency 2]

Needs PostgreSQL and Redis on 127.0.0.1 (benchmarks/settings.py). Nothing here asserts.
"""

from __future__ import annotations

import argparse
import math
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import harness  # noqa: E402

PARTNER_TOKEN = "POST /v1/platform/oauth2/token/"
BUSINESS_TOKEN = "POST /v1/platform/{business_id}/oauth2/token/"


def token_requests(stats: dict[str, Any]) -> tuple[int, int]:
    """``(partner, business)`` token requests the fake has answered so far."""
    requests = stats["requests"]
    return requests.get(PARTNER_TOKEN, 0), requests.get(BUSINESS_TOKEN, 0)


class TokenRate:
    """Token requests per second, from the fake's counters read once a second in a thread."""

    def __init__(self, fake: Any):
        self.fake = fake
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.time(), sum(token_requests(harness.http_stats(self.fake)))))
            self._stop.wait(1.0)

    def __enter__(self) -> TokenRate:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def peak(self, since: float, until: float) -> float:
        """The most token requests per second between two consecutive readings in the span."""
        inside = [s for s in self.samples if since - 1.5 <= s[0] <= until + 1.5]
        pairs = zip(inside, inside[1:], strict=False)
        rates = [(n2 - n1) / (t2 - t1) for (t1, n1), (t2, n2) in pairs]
        return max(rates, default=0.0)


def busiest_second(times: list[float]) -> int:
    return max(Counter(int(t) for t in times).values(), default=0)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--businesses", type=int, default=10000)
    parser.add_argument("--token-ttl", type=int, default=120, help="token lifetime, seconds")
    parser.add_argument("--margin", type=float, default=10, help="TOKEN_REFRESH_MARGIN")
    parser.add_argument("--jitter", type=float, default=0.1, help="TOKEN_REFRESH_JITTER")
    parser.add_argument("--concurrency", type=int, default=2, help="worker pool processes")
    args = parser.parse_args(argv)

    harness.setup_django()
    from django.db import transaction

    from tests.testapp.models import Account, Customer
    from thredfi_django.client import get_client

    lifetime = args.token_ttl
    # A token is refreshed no earlier than this many seconds after its fetch (client/tokens.py).
    earliest_refresh = max(
        lifetime / 2, lifetime - min(args.margin, lifetime / 2) - args.jitter * lifetime
    )
    worker_env = {
        "THREDFI_TOKEN_REFRESH_MARGIN": str(args.margin),
        "THREDFI_TOKEN_REFRESH_JITTER": str(args.jitter),
    }

    def create_businesses() -> None:
        for b in range(args.businesses):
            with transaction.atomic():
                account = Account.objects.create(
                    legal_name=f"Tenant {b} Ltd", email=f"books{b}@bench.example"
                )
                Customer.objects.create(account=account, name=f"First customer {b}")

    def one_more_customer_each() -> None:
        for account in Account.objects.order_by("pk").iterator():
            Customer.objects.create(account=account, name=f"Second customer {account.pk}")

    with harness.bench_database(), harness.live_fake(token_ttl=lifetime) as fake:
        print(harness.describe_environment())
        print(
            f"{args.businesses} businesses, tokens living {lifetime} s, margin {args.margin:g} s, "
            f"jitter {args.jitter:g} (refresh {earliest_refresh:.0f}-"
            f"{lifetime - min(args.margin, lifetime / 2):.0f} s after a fetch), "
            f"{args.concurrency} worker processes"
        )
        harness.reset_fake(fake)
        with (
            TokenRate(fake) as rate,
            harness.celery_worker(fake, concurrency=args.concurrency, env=worker_env),
        ):

            def run_round(name: str, save, objects: int) -> None:
                before = harness.http_stats(fake)
                started = time.time()
                save()
                statuses = harness.wait_until_settled(timeout=120 + args.businesses / 5)
                ended = time.time()
                after = harness.http_stats(fake)
                partner = token_requests(after)[0] - token_requests(before)[0]
                business = token_requests(after)[1] - token_requests(before)[1]
                total = after["total_requests"] - before["total_requests"]
                seconds = ended - started
                partner_bound = 1 + math.floor(seconds / earliest_refresh)
                within = partner <= partner_bound and business <= args.businesses
                print(f"\n{name}: {objects} objects in {seconds:.1f} s; statuses {statuses}")
                print(
                    f"  token requests: partner {partner}, business {business}, "
                    f"total {partner + business}"
                )
                print(
                    f"  bound: partner {partner_bound} (one per {earliest_refresh:.0f} s begun), "
                    f"business {args.businesses}: {partner_bound + args.businesses}  "
                    + ("WITHIN" if within else "EXCEEDED")
                )
                print(
                    f"  requests per object: {total / objects:.3f} "
                    f"(token requests {(partner + business) / objects:.3f})"
                )
                print(f"  peak token requests per second: {rate.peak(started, ended):.0f}")

            run_round("round 1 (new businesses, one customer each)", create_businesses,
                      2 * args.businesses)  # fmt: skip
            round_one_ended = time.time()

            tokens = get_client().tokens
            cached = [
                tokens.read(str(a)) for a in Account.objects.values_list("thredfi_id", flat=True)
            ]
            cached = [t for t in cached if t is not None]
            fetched = [t.expires_at - lifetime for t in cached]
            due = [t.refresh_at for t in cached]
            if cached:
                print(
                    f"  {len(cached)} business tokens in the cache: fetched over "
                    f"{max(fetched) - min(fetched):.0f} s "
                    f"(busiest second {busiest_second(fetched)}), "
                    f"due over {max(due) - min(due):.0f} s (busiest second {busiest_second(due)})"
                )

            wait = round_one_ended + lifetime + 1 - time.time()
            print(f"\nwaiting {wait:.0f} s: every token of round 1 expires")
            time.sleep(max(0.0, wait))
            run_round("round 2 (one more customer each, one lifetime later)",
                      one_more_customer_each, args.businesses)  # fmt: skip

        stats = harness.http_stats(fake)
        partner, business = token_requests(stats)
        print(
            f"\nTOKEN REQUESTS: partner {partner}, business {business} for {args.businesses} "
            f"businesses over two rounds; tokens issued {stats['tokens_issued']}"
        )


if __name__ == "__main__":
    main()
