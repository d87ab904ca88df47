"""THREDFI["RATE_LIMIT"]: every process takes evenly spaced send slots from one shared counter.
(The throughput against the fake's own limit is measured by benchmarks/rate_limit.py.)"""

from __future__ import annotations

import pytest

from thredfi_django.client import get_client
from thredfi_django.client.ratelimit import RateLimiter
from thredfi_django.client.tokens import LocalCache


class Clock:
    """A clock that stands still; how long each wait asked to sleep is recorded (0: none)."""

    def __init__(self, now: float = 1_000_000.0):
        self.now = now
        self.sleeps: list[float] = []
        self._slept = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self._slept = seconds

    def wait(self, limiter: RateLimiter, business: str) -> None:
        self._slept = 0.0
        limiter.wait(business)
        self.sleeps.append(round(self._slept, 6))


def limiter(cache, clock, **limits) -> RateLimiter:
    return RateLimiter(cache, limits, namespace="partner@host", clock=clock, sleep=clock.sleep)


def test_two_processes_sharing_the_cache_get_evenly_spaced_slots():
    cache, clock = LocalCache(), Clock()
    first, second = limiter(cache, clock, per_business=20), limiter(cache, clock, per_business=20)

    for _ in range(5):
        clock.wait(first, "acme")
        clock.wait(second, "acme")

    assert clock.sleeps == [round(n * 0.05, 6) for n in range(10)]


def test_any_one_second_holds_at_most_the_limit_however_the_calls_bunch_up():
    cache, clock = LocalCache(), Clock(now=1_000_000.97)  # late in a second
    workers = [limiter(cache, clock, per_business=4) for _ in range(3)]

    for n in range(12):
        clock.wait(workers[n % 3], "acme")

    sent = [clock.now + delay for delay in clock.sleeps]
    for start in sent:
        assert sum(start <= t < start + 1 for t in sent) <= 4


def test_each_business_has_its_own_slots_and_the_global_limit_covers_them_all():
    cache, clock = LocalCache(), Clock()
    per_business = limiter(cache, clock, per_business=2)
    clock.wait(per_business, "acme")
    clock.wait(per_business, "acme")
    clock.wait(per_business, "globex")
    assert clock.sleeps == [0.0, 0.5, 0.0]

    clock.sleeps.clear()
    both = limiter(LocalCache(), clock, **{"global": 2, "per_business": 10})
    for business in ("acme", "globex", "initech"):
        clock.wait(both, business)
    assert clock.sleeps == [0.0, 0.5, 1.0]


def test_after_an_idle_spell_requests_go_out_at_once():
    cache, clock = LocalCache(), Clock()
    slow = limiter(cache, clock, per_business=1)
    clock.wait(slow, "acme")
    clock.wait(slow, "acme")
    clock.now += 3600 * 0.5  # half an hour later: the counter lags behind

    clock.wait(slow, "acme")

    assert clock.sleeps == [0.0, 1.0, 0.0]


def test_no_limit_no_wait():
    clock = Clock()
    clock.wait(limiter(LocalCache(), clock), "acme")
    assert clock.sleeps == [0.0]


@pytest.fixture
def client(thredfi_fake, settings):
    settings.THREDFI = {**settings.THREDFI, "RATE_LIMIT": {"per_business": 5}}
    return get_client()


def test_the_client_waits_for_a_slot_before_each_business_request(client):
    clock = Clock()
    client.rate_limiter.clock, client.rate_limiter.sleep = clock, clock.sleeps.append
    business = client.businesses.create(
        {
            "legal_name": "Acme",
            "entity_type": "limited",
            "email": "a@example.com",
            "external_id": "a",
        }
    )

    for _ in range(3):
        list(client.business(business["id"]).customers.list())

    assert [round(s, 6) for s in clock.sleeps] == [0.2, 0.4]  # the first went at once


def test_the_fake_refuses_requests_beyond_its_per_business_limit(thredfi_fake, client):
    business = client.businesses.create(
        {
            "legal_name": "Acme",
            "entity_type": "limited",
            "email": "a@example.com",
            "external_id": "a",
        }
    )
    other = client.businesses.create(
        {
            "legal_name": "Globex",
            "entity_type": "limited",
            "email": "g@example.com",
            "external_id": "g",
        }
    )
    client.rate_limiter.business_limit = None  # let the client overrun it
    thredfi_fake.set_faults(business_requests_per_second=2)

    answers = []
    for _ in range(3):
        try:
            list(client.business(business["id"]).customers.list())
            answers.append("ok")
        except Exception as err:  # noqa: BLE001
            answers.append(getattr(err, "status_code", repr(err)))
    list(client.business(other["id"]).customers.list())  # another business: its own budget

    assert answers == ["ok", "ok", 429]
    assert thredfi_fake.stats.faults == {"rate_limit": 1}
