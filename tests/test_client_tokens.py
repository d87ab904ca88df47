"""Tokens: fetched once per lifetime, shared through the cache, refreshed by one worker at a time.

The token server here is a few ``responses`` callbacks that issue, count and revoke tokens, so
each story can say exactly how many tokens were fetched.
"""

import base64
import itertools
import random
import threading
from collections import Counter
from urllib.parse import parse_qs

import pytest
import responses
from django.core.cache import caches

from thredfi_django.client import ThredfiClient, get_client
from thredfi_django.client.shared import DjangoCache
from thredfi_django.client.tokens import LocalCache, TokenStore
from thredfi_django.exceptions import ThredfiAuthenticationError, ThredfiPermissionError
from thredfi_django.testing import FakeThredfi

BASE = "https://thredfi.test"
PARTNER = "7a3f9c1e-1111-4222-8333-client-tests"
API_KEY = "sk_test_do_not_leak"
BUSINESS = "4f1c2d7e-0000-4000-8000-000000000001"
OTHER_BUSINESS = "4f1c2d7e-0000-4000-8000-000000000002"


class TokenServer:
    """Issues numbered tokens, remembers which are valid, serves one protected endpoint."""

    def __init__(self, rsps, expires_in=3600):
        self.rsps = rsps
        self.expires_in = expires_in
        self.counter = itertools.count(1)
        self.valid = {}  # token -> scope
        self.partner_fetches = 0
        self.business_fetches = 0
        self.api_calls = 0
        self.reject_all = False
        self.on_business_fetch = None
        rsps.add_callback("POST", f"{BASE}/v1/platform/oauth2/token/", callback=self.partner)
        for business in (BUSINESS, OTHER_BUSINESS):
            rsps.add_callback(
                "POST", f"{BASE}/v1/platform/{business}/oauth2/token/", callback=self.business
            )
            rsps.add_callback(
                "GET",
                f"{BASE}/v1/platform/businesses/{business}/customers/00000000-0000-4000-8000-000000000002/",
                self.customer,
            )
        rsps.add_callback("GET", f"{BASE}/v1/platform/businesses/{BUSINESS}/", self.get_business)

    def _issue(self, scope):
        token = f"tok-{scope}-{next(self.counter)}"
        self.valid[token] = scope
        return token

    def partner(self, request):
        self.partner_fetches += 1
        expected = base64.b64encode(f"{PARTNER}:{API_KEY}".encode()).decode()
        if request.headers.get("Authorization") != f"Basic {expected}":
            return 401, {}, '{"error_code": "invalid_client"}'
        token = self._issue("partner")
        return 200, {}, f'{{"access_token": "{token}", "expires_in": {self.expires_in}}}'

    def business(self, request):
        self.business_fetches += 1
        if self.on_business_fetch:
            self.on_business_fetch()
        business = request.url.split("/v1/platform/")[1].split("/")[0]
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if self.valid.get(bearer) != "partner":
            return 401, {}, '{"error_code": "invalid_token"}'
        token = self._issue(business)
        return 200, {}, f'{{"access_token": "{token}", "expires_in": {self.expires_in}}}'

    def customer(self, request):
        self.api_calls += 1
        business = request.url.split("/businesses/")[1].split("/")[0]
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if self.reject_all or bearer not in self.valid:
            return 401, {}, '{"error_code": "invalid_token", "message": "expired"}'
        if self.valid[bearer] != business:
            return 403, {}, '{"error_code": "permission_denied"}'
        return 200, {}, '{"id": "00000000-0000-4000-8000-000000000002"}'

    def get_business(self, request):
        self.api_calls += 1
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if self.valid.get(bearer) != "partner":
            return 401, {}, '{"error_code": "invalid_token"}'
        return 200, {}, f'{{"id": "{BUSINESS}"}}'

    def revoke_all(self):
        self.valid.clear()


@pytest.fixture
def server():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield TokenServer(rsps)


@pytest.fixture
def shared_cache():
    """Django's default cache (Redis in the real-services run), cleaned of this file's keys only."""
    store = new_client().tokens
    keys = [store.key(scope) for scope in ("partner", BUSINESS, OTHER_BUSINESS)]
    keys = [key + suffix for key in keys for suffix in ("", ":lock")]
    caches["default"].delete_many(keys)
    yield DjangoCache("default")
    caches["default"].delete_many(keys)


def new_client(cache=None, **kwargs):
    return ThredfiClient(PARTNER, API_KEY, BASE, cache=cache, **kwargs)


def test_fifty_calls_fetch_one_partner_and_one_business_token(server):
    customers = new_client().business(BUSINESS).customers
    for _ in range(50):
        assert customers.get("00000000-0000-4000-8000-000000000002") == {
            "id": "00000000-0000-4000-8000-000000000002"
        }
    assert server.api_calls == 50
    assert (server.partner_fetches, server.business_fetches) == (1, 1)


def test_worker_processes_share_tokens_through_the_django_cache(server, shared_cache):
    """Two clients (think: two Celery worker processes) with one cache fetch tokens once."""
    first, second = new_client(shared_cache), new_client(shared_cache)
    first.business(BUSINESS).customers.get("00000000-0000-4000-8000-000000000002")
    second.business(BUSINESS).customers.get("00000000-0000-4000-8000-000000000002")
    assert (server.partner_fetches, server.business_fetches) == (1, 1)


def test_each_business_gets_its_own_token_from_one_partner_token(server):
    client = new_client()
    client.business(BUSINESS).customers.get("00000000-0000-4000-8000-000000000002")
    client.business(OTHER_BUSINESS).customers.get("00000000-0000-4000-8000-000000000002")
    client.business(BUSINESS).customers.get("00000000-0000-4000-8000-000000000002")
    assert (server.partner_fetches, server.business_fetches) == (1, 2)


def test_token_requests_follow_the_docs(server):
    client = new_client()
    client.business(BUSINESS).customers.get("00000000-0000-4000-8000-000000000002")
    partner_call, business_call, api_call = server.rsps.calls
    # Partner token: HTTP Basic (uuid:key), form-encoded client_credentials plus client_id.
    assert partner_call.request.headers["Authorization"].startswith("Basic ")
    assert partner_call.request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert parse_qs(partner_call.request.body) == {
        "grant_type": ["client_credentials"],
        "client_id": [PARTNER],
    }
    # Business token: no `businesses/` segment, the partner token as Bearer, no body.
    assert business_call.request.url == f"{BASE}/v1/platform/{BUSINESS}/oauth2/token/"
    assert business_call.request.headers["Authorization"] == "Bearer tok-partner-1"
    assert not business_call.request.body
    # The API call carries the business token, JSON and our User-Agent.
    assert api_call.request.headers["Authorization"] == f"Bearer tok-{BUSINESS}-2"
    assert api_call.request.headers["Accept"] == "application/json"
    assert api_call.request.headers["User-Agent"].startswith("thredfi-django/")
    assert "python-requests/" in api_call.request.headers["User-Agent"]


def test_every_call_has_a_timeout_and_one_session_is_reused(server):
    client = new_client(timeout=(2.0, 9.0))
    client.business(BUSINESS).customers.get("00000000-0000-4000-8000-000000000002")
    client.business(BUSINESS).customers.get("00000000-0000-4000-8000-000000000002")
    assert [c.request.req_kwargs["timeout"] for c in server.rsps.calls] == [(2.0, 9.0)] * 4
    assert client.session is client.session  # one keep-alive session per client


def test_a_token_is_refreshed_when_less_than_the_margin_remains(server):
    client = new_client(token_refresh_margin=300, token_refresh_jitter=0)
    now = [1_000_000.0]
    client.tokens.clock = lambda: now[0]
    assert client.partner_token() == "tok-partner-1"
    now[0] += 3600 - 301  # 301 s left: still good
    assert client.partner_token() == "tok-partner-1"
    now[0] += 2  # 299 s left: refresh
    assert client.partner_token() == "tok-partner-2"
    assert server.partner_fetches == 2


def test_a_lifetime_shorter_than_the_margin_does_not_mean_a_fetch_per_call():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        server = TokenServer(rsps, expires_in=120)
        client = new_client(token_refresh_margin=300)
        now = [1_000_000.0]
        client.tokens.clock = lambda: now[0]
        client.partner_token()
        now[0] += 59  # before half its life
        client.partner_token()
        assert server.partner_fetches == 1
        now[0] += 2
        client.partner_token()
        assert server.partner_fetches == 2


def test_the_frontend_gets_the_business_token_and_its_remaining_life(server):
    client = new_client()
    now = [1_000_000.0]
    client.tokens.clock = lambda: now[0]
    assert client.business_token(BUSINESS) == {
        "access_token": f"tok-{BUSINESS}-2",
        "expires_in": 3600,
    }
    now[0] += 1000
    assert client.business(BUSINESS).token()["expires_in"] == 2600
    assert server.business_fetches == 1


def test_a_401_mid_stream_refreshes_once_and_replays_the_call(server):
    customers = new_client().business(BUSINESS).customers
    customers.get("00000000-0000-4000-8000-000000000002")
    server.revoke_all()  # Thredfi forgets every token (expiry, key rotation, ...)
    assert customers.get("00000000-0000-4000-8000-000000000002") == {
        "id": "00000000-0000-4000-8000-000000000002"
    }
    # One failed call, one replay; the business token refresh found the partner token revoked
    # too and fetched that once as well.
    assert server.api_calls == 3
    assert (server.partner_fetches, server.business_fetches) == (2, 3)
    for _ in range(10):
        customers.get("00000000-0000-4000-8000-000000000002")
    assert (server.partner_fetches, server.business_fetches) == (2, 3)


def test_a_401_on_a_partner_call_fetches_a_new_partner_token_once(server):
    client = new_client()
    client.businesses.get(BUSINESS)
    server.revoke_all()
    assert client.businesses.get(BUSINESS) == {"id": BUSINESS}
    assert server.partner_fetches == 2
    assert server.api_calls == 3


def test_a_persistent_401_after_one_replay_instead_of_looping(server):
    customers = new_client().business(BUSINESS).customers
    server.reject_all = True
    with pytest.raises(ThredfiAuthenticationError) as caught:
        customers.get("00000000-0000-4000-8000-000000000002")
    assert server.api_calls == 2
    assert server.business_fetches == 2
    assert caught.value.error_code == "invalid_token"
    assert "tok-" not in str(caught.value)


def test_a_403_is_not_mistaken_for_an_expired_token(server):
    client = new_client()
    token = client.business_token(OTHER_BUSINESS)["access_token"]
    # Put the other business's token under BUSINESS's key: the server answers 403, not 401.
    client.tokens.cache.set(
        client.tokens.key(BUSINESS),
        client.tokens.cache.get(client.tokens.key(OTHER_BUSINESS)),
    )
    with pytest.raises(ThredfiPermissionError):
        client.business(BUSINESS).customers.get("00000000-0000-4000-8000-000000000002")
    assert server.business_fetches == 1
    assert token.startswith(f"tok-{OTHER_BUSINESS}")


def test_the_cache_key_depends_on_the_credentials_and_host_and_shows_neither(shared_cache):
    client = new_client(shared_cache)
    key = client.tokens.key(BUSINESS)
    assert BUSINESS in key
    assert API_KEY not in key and PARTNER not in key
    sandbox = ThredfiClient(PARTNER, API_KEY, "https://sandbox.example").tokens.key(BUSINESS)
    assert sandbox != key  # another host never reuses this host's tokens
    rotated = ThredfiClient(PARTNER, API_KEY + "-rotated", BASE).tokens.key(BUSINESS)
    assert rotated != key  # a new (or wrong) key never finds the old key's tokens


def test_cached_tokens_are_sealed_and_useless_under_another_key(shared_cache):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        TokenServer(rsps)
        new_client(shared_cache).partner_token()
    client = new_client(shared_cache)
    stored = shared_cache.get(client.tokens.key("partner"))
    assert "tok-partner-1" not in stored, "the cache holds ciphertext only"
    assert client.tokens.read("partner").access_token == "tok-partner-1"
    other = ThredfiClient(PARTNER, API_KEY, BASE, cache=shared_cache, cache_secret="other")
    assert other.tokens.seal.open(stored) is None
    assert other.tokens.read("partner") is None


def test_concurrent_refreshes_make_one_fetch(shared_cache):
    """Eight threads find no token at once: one fetches, the others wait for it."""
    threads_count = 8
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        server = TokenServer(rsps)
        waiting = threading.Semaphore(0)
        clients = [new_client(shared_cache) for _ in range(threads_count)]
        for client in clients:
            original_sleep = client.tokens.sleep

            def counting_sleep(seconds, _original=original_sleep):
                waiting.release()
                _original(0.001)

            client.tokens.sleep = counting_sleep

        def hold_fetch_until_everyone_waits():
            # The fetch answers only once every other thread has polled at least once, so the
            # threads really do overlap (bounded: a missing waiter fails the test below).
            for _ in range(threads_count - 1):
                assert waiting.acquire(timeout=10)

        server.on_business_fetch = hold_fetch_until_everyone_waits
        client_tokens = {}
        client_tokens_lock = threading.Lock()

        def work(index):
            token = clients[index].business_token(BUSINESS)["access_token"]
            with client_tokens_lock:
                client_tokens[index] = token

        threads = [threading.Thread(target=work, args=(i,)) for i in range(threads_count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert len(client_tokens) == threads_count
        assert set(client_tokens.values()) == {f"tok-{BUSINESS}-2"}
        assert server.business_fetches == 1
        assert server.partner_fetches == 1


def test_a_waiter_takes_over_when_the_lock_holder_died(server, shared_cache):
    client = new_client(shared_cache)
    polls = []
    client.tokens.sleep = polls.append
    # A crashed worker left its lock behind and no token.
    shared_cache.add(client.tokens.key(BUSINESS) + ":lock", "dead-worker", 10)
    assert client.business_token(BUSINESS)["access_token"] == f"tok-{BUSINESS}-2"
    assert server.business_fetches == 1
    # It waited a bounded time (the lock's lifetime) before fetching itself.
    assert sum(polls) == pytest.approx(client.tokens.lock_timeout, abs=0.1)


def test_waiters_fetch_themselves_as_soon_as_the_holder_gives_up(server, shared_cache):
    client = new_client(shared_cache)
    lock_key = client.tokens.key(BUSINESS) + ":lock"
    shared_cache.add(lock_key, "failing-worker", 10)
    polls = []

    def sleep(seconds):
        polls.append(seconds)
        if len(polls) == 3:
            shared_cache.delete(lock_key)  # the holder's fetch failed; it released the lock

    client.tokens.sleep = sleep
    client.business_token(BUSINESS)
    assert len(polls) == 3
    assert server.business_fetches == 1


def test_while_another_worker_refreshes_the_old_token_is_still_used(server, shared_cache):
    client = new_client(shared_cache)
    now = [1_000_000.0]
    client.tokens.clock = lambda: now[0]
    old = client.business_token(BUSINESS)["access_token"]
    now[0] += 3600 - 100  # inside the refresh margin, still valid
    shared_cache.add(client.tokens.key(BUSINESS) + ":lock", "other-worker", 10)
    client.tokens.sleep = lambda s: pytest.fail("should not wait while a valid token exists")
    assert client.business_token(BUSINESS)["access_token"] == old
    assert server.business_fetches == 1


def test_a_late_401_does_not_throw_away_a_token_someone_else_just_fetched(server, shared_cache):
    first, second = new_client(shared_cache), new_client(shared_cache)
    stale = first.business_token(BUSINESS)["access_token"]
    server.revoke_all()
    first.business(BUSINESS).customers.get(
        "00000000-0000-4000-8000-000000000002"
    )  # refreshes: new token in the cache
    fetches = server.business_fetches
    second.tokens.invalidate(BUSINESS, stale)  # a slower worker reporting its old token
    second.business(BUSINESS).customers.get("00000000-0000-4000-8000-000000000002")
    assert server.business_fetches == fetches


# -- many businesses: refreshes spread out, memory bounded, one fetch per lifetime ------------


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


class CountingCache(LocalCache):
    """A LocalCache that counts reads: what a process asks its shared cache."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def get(self, key, default=None):
        self.reads += 1
        return super().get(key, default)


class TokenIssuer:
    """A fetch function per scope that counts fetches and notes when each happened."""

    def __init__(self, clock, lifetime=3600):
        self.clock, self.lifetime = clock, lifetime
        self.fetched_at = {}  # scope -> [times]

    def __call__(self, scope):
        def fetch():
            times = self.fetched_at.setdefault(scope, [])
            times.append(self.clock())
            return f"tok-{scope}-{len(times)}", self.lifetime

        return fetch

    @property
    def fetches(self):
        return sum(len(times) for times in self.fetched_at.values())


def token_store(cache=None, *, clock=None, margin=300, jitter=0.1, seed=15):
    store = TokenStore(
        cache if cache is not None else LocalCache(),
        partner_uuid=PARTNER,
        api_key=API_KEY,
        base_url=BASE,
        margin=margin,
        jitter=jitter,
    )
    store.random = random.Random(seed).random
    if clock is not None:
        store.clock = clock
    return store


def test_tokens_fetched_together_come_due_over_the_jitter_window():
    """1,000 business tokens fetched in the same second are refreshed over six minutes."""
    clock = Clock()
    issue = TokenIssuer(clock)
    store = token_store(clock=clock, margin=300, jitter=0.1)
    due = [store.get(f"b{n}", issue(f"b{n}")).refresh_at - clock.now for n in range(1000)]

    # 300 s before expiry at the latest, up to 10 % of 3600 s earlier still.
    assert 3600 - 300 - 360 <= min(due) and max(due) <= 3600 - 300
    assert max(due) - min(due) > 350
    busiest_second = max(Counter(int(d) for d in due).values())
    assert busiest_second <= 20  # no second holds 2 % of them (~3 a second on average)

    without_jitter = token_store(clock=clock, margin=300, jitter=0)
    due = {without_jitter.get(f"b{n}", issue(f"b{n}")).refresh_at for n in range(1000)}
    assert len(due) == 1  # the storm: every one of them due in the same second


@pytest.mark.parametrize(
    "lifetime, margin, jitter",
    [(3600, 300, 0.1), (3600, 300, 0.5), (3600, 0, 0.5), (600, 100, 0.3), (120, 300, 0.1)],
)
@pytest.mark.parametrize("draw", [0.0, 0.5, 0.999999])
def test_no_token_is_refreshed_after_its_margin_or_before_half_its_life(
    lifetime, margin, jitter, draw
):
    clock = Clock()
    issue = TokenIssuer(clock, lifetime)
    store = token_store(clock=clock, margin=margin, jitter=jitter)
    store.random = lambda: draw
    fetched = clock.now
    store.get("b", issue("b"))

    clock.now = fetched + lifetime / 2 - 1  # before half its life: still the first token
    assert store.get("b", issue("b")).access_token == "tok-b-1"
    clock.now = fetched + lifetime - min(margin, lifetime / 2) + 1  # inside its margin: renewed
    assert store.get("b", issue("b")).access_token == "tok-b-2"


def test_the_memo_keeps_the_most_recent_tokens_up_to_its_cap(settings):
    """With 1,000 businesses and room for 100 (THREDFI['TOKEN_MEMO_LIMIT']), the 100 used
    last are served from memory and the others from the shared cache: memory stays bounded and
    nothing is fetched twice."""
    settings.THREDFI = {**settings.THREDFI, "TOKEN_MEMO_LIMIT": 100}
    clock, cache = Clock(), CountingCache()
    issue = TokenIssuer(clock)
    store = get_client().tokens
    store.cache, store.clock = cache, clock
    for n in range(1000):
        store.get(f"b{n}", issue(f"b{n}"))

    cache.reads = 0
    for n in range(900, 1000):
        store.get(f"b{n}", issue(f"b{n}"))
    assert cache.reads == 0
    for n in range(900):
        store.get(f"b{n}", issue(f"b{n}"))
    assert cache.reads == 900  # one read each: no longer kept in memory
    assert issue.fetches == 1000


def test_two_workers_fetch_each_business_token_once_per_refresh():
    """Two workers sharing a cache use 300 business tokens every minute for two hours: each
    token is fetched at first use, then once each time its refresh point passes, by one worker."""
    clock, cache = Clock(), LocalCache()
    issue = TokenIssuer(clock)
    workers = [token_store(cache, clock=clock, seed=seed) for seed in (1, 2)]
    start = clock.now
    while clock.now < start + 7200:
        for worker in workers:
            for n in range(300):
                worker.get(f"b{n}", issue(f"b{n}"))
        clock.now += 60

    for times in issue.fetched_at.values():
        # at 0 s, ~3000-3300 s and ~6000-6600 s: never two within half a lifetime
        assert len(times) == 3
        assert all(later - earlier >= 1800 for earlier, later in itertools.pairwise(times))


def test_partner_token_once_per_lifetime_however_many_business_tokens():
    """Two clients (two workers) and 50 businesses, then the same an hour later: 1 partner and
    50 business tokens each time."""
    clock = Clock()
    fake = FakeThredfi(base_url=BASE, token_ttl=3600, clock=clock)
    fake.add_partner(PARTNER, API_KEY)
    businesses = [fake.add_business(PARTNER)["id"] for _ in range(50)]
    cache = LocalCache()
    clients = [new_client(cache) for _ in range(2)]
    for client in clients:
        client.tokens.clock = clock

    with fake.mock():
        for n, business in enumerate(businesses):
            clients[n % 2].business_token(business)
        assert fake.stats.tokens_issued == {"partner": 1, "business": 50}

        clock.now += 3600
        for n, business in enumerate(businesses):
            clients[(n + 1) % 2].business_token(business)
        assert fake.stats.tokens_issued == {"partner": 2, "business": 100}
