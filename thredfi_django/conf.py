"""The one setting, ``THREDFI = {...}``, read lazily.

Modelled on ``rest_framework/settings.py``: nothing is read at import time, values are looked up
on first attribute access and cached, and the cache is dropped on Django's ``setting_changed``
signal so ``override_settings(THREDFI=...)`` works in tests.

    from thredfi_django.conf import thredfi_settings
    thredfi_settings.BASE_URL
"""

from __future__ import annotations

import difflib
from typing import Any

from django.conf import settings as django_settings
from django.core.signals import setting_changed

from .exceptions import ThredfiConfigurationError

#: Named environments and their hosts (see docs/thredfi-api.md). Production follows the
#: backend guide and the published widget (backend.thredfi.com); the MCP page's api.thredfi.com
#: can be used by setting BASE_URL.
ENVIRONMENTS = {
    "sandbox": "https://sandbox.thredfi.com",
    "development": "https://dev-backend.thredfi.com",
    "staging": "https://staging-backend.thredfi.com",
    "production": "https://backend.thredfi.com",
}


class Kind:
    """What values a setting accepts; ``problem(value)`` says what is wrong, or None."""

    #: What the setting must be, in words ("a whole number").
    description = ""

    def __init__(
        self,
        *,
        optional: bool = False,
        low: float | None = None,
        high: float | None = None,
        choices: tuple[str, ...] = (),
    ):
        self.optional, self.low, self.high, self.choices = optional, low, high, choices

    def problem(self, value: Any) -> str | None:
        if value is None:
            return None if self.optional else f"must be {self.description}, not None"
        if not self.accepts(value):
            return f"must be {self.description}, not {type(value).__name__} {value!r}"
        if self.choices and value not in self.choices:
            return f"must be one of {', '.join(map(repr, self.choices))}, not {value!r}"
        for number in self.numbers(value):
            if self.low is not None and number < self.low:
                return f"must be at least {self.low:g}, not {value!r}"
            if self.high is not None and number > self.high:
                return f"must be at most {self.high:g}, not {value!r}"
        return None

    def accepts(self, value: Any) -> bool:
        raise NotImplementedError

    def numbers(self, value: Any) -> tuple[float, ...]:
        return ()


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


class Text(Kind):
    description = "a string"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str)


class Flag(Kind):
    description = "True or False"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, bool)


class Int(Kind):
    description = "a whole number"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    def numbers(self, value: Any) -> tuple[float, ...]:
        return (value,)


class Seconds(Kind):
    description = "a number of seconds"

    def accepts(self, value: Any) -> bool:
        return _is_number(value)

    def numbers(self, value: Any) -> tuple[float, ...]:
        return (value,)


class Number(Kind):
    description = "a number"

    def accepts(self, value: Any) -> bool:
        return _is_number(value)

    def numbers(self, value: Any) -> tuple[float, ...]:
        return (value,)


class Timeout(Kind):
    """Seconds, or a ``(connect, read)`` pair of seconds, as ``requests`` takes them."""

    description = "seconds or a (connect, read) pair of seconds"

    def accepts(self, value: Any) -> bool:
        if isinstance(value, (list, tuple)):
            return len(value) == 2 and all(map(_is_number, value))
        return _is_number(value)

    def numbers(self, value: Any) -> tuple[float, ...]:
        return tuple(value) if isinstance(value, (list, tuple)) else (value,)


class Labels(Kind):
    description = "a list of strings"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)


class Mapping(Kind):
    description = "a dict"

    def accepts(self, value: Any) -> bool:
        return isinstance(value, dict)


class RateLimits(Kind):
    """``{"global": n, "per_business": n}``: whole requests per second, each optional."""

    description = 'a dict like {"global": 50, "per_business": 19} (requests per second or None)'
    keys = ("global", "per_business")

    def accepts(self, value: Any) -> bool:
        return (
            isinstance(value, dict)
            and set(value) <= set(self.keys)
            and all(
                v is None or (isinstance(v, int) and not isinstance(v, bool) and v >= 1)
                for v in value.values()
            )
        )


class Setting:
    """One key of ``THREDFI``: its default and the values it accepts."""

    def __init__(self, default: Any, kind: Kind):
        self.default, self.kind = default, kind


#: Every key of ``settings.THREDFI``. A new setting is one line here; checks.py and the runtime
#: validation read this table.
SETTINGS: dict[str, Setting] = {
    # Credentials: the partner UUID is the HTTP Basic username, the API key its password.
    "PARTNER_UUID": Setting(None, Text(optional=True)),
    "API_KEY": Setting(None, Text(optional=True)),
    # Either a named ENVIRONMENT or an explicit BASE_URL (BASE_URL wins).
    "ENVIRONMENT": Setting("sandbox", Text()),
    "BASE_URL": Setting(None, Text(optional=True)),
    # requests timeout: (connect, read) seconds, applied to each network read.
    "TIMEOUT": Setting((5.0, 30.0), Timeout(low=0.001, high=3600)),
    # The most one request may take in all, however slowly the answer trickles in.
    "REQUEST_DEADLINE": Setting(60.0, Seconds(low=0.001, high=3600)),
    # The largest answer read; a larger one is cut off and reported as an error.
    "MAX_RESPONSE_BYTES": Setting(10 * 1024 * 1024, Int(low=1024)),
    # Refresh a cached token when fewer than this many seconds of its life remain.
    "TOKEN_REFRESH_MARGIN": Setting(300, Seconds(low=0)),
    # Refresh up to this fraction of a token's lifetime earlier still, at random per token (never
    # before half its life), so tokens fetched together are not all refreshed together.
    "TOKEN_REFRESH_JITTER": Setting(0.1, Number(low=0, high=0.5)),
    # Tokens one process keeps in memory (least recently used dropped first); one not kept
    # costs a read of the shared cache.
    "TOKEN_MEMO_LIMIT": Setting(10_000, Int(low=1)),
    # Django cache alias holding tokens (shared by every worker process; encrypted at rest).
    "TOKEN_CACHE": Setting("default", Text()),
    # Retry policy for transient failures (timeouts, connection errors, 5xx, 429).
    "MAX_ATTEMPTS": Setting(10, Int(low=1)),
    "BACKOFF_BASE": Setting(2.0, Seconds(low=0)),  # delay = base * 2**(attempt-1), jittered
    "BACKOFF_MAX": Setting(3600.0, Seconds(low=0)),
    # external_id = f"{EXTERNAL_ID_PREFIX}:{EXTERNAL_ID_NAMESPACE}:{app_label.model}:{pk}"
    "EXTERNAL_ID_PREFIX": Setting("dj", Text()),
    "EXTERNAL_ID_NAMESPACE": Setting("default", Text()),
    # Master switch and per-model pause list ("app_label.ModelName").
    "SYNC_ENABLED": Setting(True, Flag()),
    "PAUSED_MODELS": Setting([], Labels()),
    # How long a worker owns a claimed sync-state row before another may take it over. A
    # worker renews the leases it holds every LEASE_SECONDS / 3 while it pushes, so this is
    # how long the rows of a worker that died wait.
    "LEASE_SECONDS": Setting(30, Seconds(low=1)),
    # Celery queue for sync tasks (None: Celery's default queue).
    "CELERY_QUEUE": Setting(None, Text(optional=True)),
    # How pending work reaches the workers. "drain": a coalesced drain_pending task wakes a
    # worker, which claims due rows in batches and pushes them together (recording/wake.py,
    # engine/pipeline.py).
    # "per_object": one sync_object task per row (simplest to trace, slower per object).
    "DISPATCH": Setting("drain", Text(choices=("drain", "per_object"))),
    # Drain kicks: "background" (a daemon thread of the saving process publishes) or "inline"
    # (the after-commit callback publishes); at most one per DRAIN_KICK_INTERVAL seconds per
    # process, plus one at the end of the interval if asked during it.
    "DRAIN_KICK": Setting("background", Text(choices=("background", "inline"))),
    "DRAIN_KICK_INTERVAL": Setting(0.05, Seconds(low=0)),
    # Rows a drain claims per batch, and how long one drain task runs before handing over.
    "DRAIN_BATCH": Setting(100, Int(low=1)),
    "DRAIN_TIME_LIMIT": Setting(30.0, Seconds(low=0.1)),
    # Concurrent HTTP requests within one batch (threads of the worker process).
    "DRAIN_HTTP_CONCURRENCY": Setting(4, Int(low=1, high=64)),
    # Sweep: rows pending longer than this without a worker picking them up are re-enqueued.
    "SWEEP_STALE_SECONDS": Setting(60, Seconds(low=1)),
    # Rows one sweep takes at most (of each kind: saves, stale or expired rows, blocked rows).
    "SWEEP_LIMIT": Setting(5000, Int(low=1)),
    # Retries due within this many seconds get a Celery countdown task; later ones the sweep.
    "COUNTDOWN_LIMIT": Setting(900, Seconds(low=0)),
    # How deep a chain of dependencies one push syncs inline (business → customer → invoice
    # → payment is 3); deeper ones wait, blocked, for their own push.
    "MAX_DEPENDENCY_DEPTH": Setting(6, Int(low=0, high=50)),
    # Rows per statement when the engine records saved objects (11 parameters each), and per
    # transaction when a person or a command asks for a re-sync.
    "RECORD_CHUNK": Setting(1000, Int(low=1, high=5000)),
    "REQUEST_CHUNK": Setting(2000, Int(low=1, high=30000)),
    # Above this many sync-state rows (PostgreSQL's estimate), the dashboard, thredfi_status and
    # the outbox changelist show the database's estimate of synced rows and of result counts
    # instead of counting millions of rows on every view.
    "EXACT_COUNT_LIMIT": Setting(100_000, Int(low=0)),
    # Requests per second to Thredfi, all worker processes together (counted in TOKEN_CACHE,
    # which must then be shared: Redis or Memcached): {"global": n, "per_business": n}; None or
    # a missing key is no limit. Set it a little under Thredfi's own limits.
    "RATE_LIMIT": Setting({"global": None, "per_business": None}, RateLimits()),
    # Attempt history rows kept per object.
    "ATTEMPT_HISTORY": Setting(20, Int(low=0)),
    # Invoice/bill line schema (docs/thredfi-api.md: the docs disagree): "guide" sends
    # unit_price_cents + account_code, "reference" sends unit_price (cents) + account_identifier
    # {"type": "AccountId", "id": <ledger account uuid>} looked up in the chart of accounts.
    "LINE_SCHEMA": Setting("guide", Text(choices=("guide", "reference"))),
    # Ledger account code of a line whose model names none, per parent resource (and of a
    # write-off's destination_account, under "write_off": not sent when absent).
    "ACCOUNT_CODES": Setting(
        {"invoice": "4000", "bill": "5000", "customer_credit": "4000", "vendor_credit": "5000"},
        Mapping(),
    ),
    # Accounts ``manage.py thredfi_accounts --create-missing`` creates where a business lacks
    # them: code -> {"name", "account_type"[, "account_subtype"]}.
    "LEDGER_ACCOUNTS": Setting(
        {
            "4000": {"name": "Sales", "account_type": "revenue"},
            "5000": {"name": "Cost of sales", "account_type": "expense"},
        },
        Mapping(),
    ),
    # The largest PDF sent as an invoice's or bill's document (bytes). Ours, not Thredfi's: the
    # API documents no limit. A larger file is refused before any request, naming the limit.
    "DOCUMENT_MAX_BYTES": Setting(10 * 1024 * 1024, Int(low=1024)),
    # Seconds a business's chart of accounts is cached (one paged GET per business per period).
    "CHART_CACHE_SECONDS": Setting(3600, Seconds(low=1)),
    # Reading Thredfi back (engine/pull.py): pages of each collection (invoices, payments, bills,
    # customer credits; 100 records a page) one pull reads per business. None of these lists
    # documents a "changed since" filter, so later pulls read only the first pages; a business's
    # first pull, and ``thredfi_pull --full``, read them all.
    "PULL_MAX_PAGES": Setting(20, Int(low=1)),
    # Frontend token view (thredfi_django.views.BusinessTokenView): dotted path to a callable
    # resolver(request, requested_id: str | None) -> business object (with thredfi_id) or None
    # (= forbidden). It alone decides which business a user may get a token for.
    "TOKEN_BUSINESS_RESOLVER": Setting(None, Text(optional=True)),
}

#: Keys that were renamed, so a setting under its old name gets a precise message.
RENAMED = {"CACHE_ALIAS": "TOKEN_CACHE"}

DEFAULTS: dict[str, Any] = {name: setting.default for name, setting in SETTINGS.items()}


def unknown_key_message(key: str) -> str:
    """What to say about a key of THREDFI that is not a setting."""
    if key in RENAMED:
        return f"settings.THREDFI[{key!r}] was renamed {RENAMED[key]!r}; rename it."
    close = difflib.get_close_matches(str(key), SETTINGS, n=1)
    guess = f" Did you mean {close[0]!r}?" if close else ""
    return f"settings.THREDFI has an unknown key {key!r}.{guess}"


def setting_problems(user: dict[str, Any]) -> list[tuple[str, str]]:
    """``(key, message)`` for every unknown key and every value its setting does not accept."""
    found = [(str(key), unknown_key_message(key)) for key in user if key not in SETTINGS]
    for key, setting in SETTINGS.items():
        if key in user:
            problem = setting.kind.problem(user[key])
            if problem:
                found.append((key, f"settings.THREDFI[{key!r}] {problem}."))
    return found


class ThredfiSettings:
    """Attribute access to ``settings.THREDFI`` merged over :data:`DEFAULTS`."""

    def __init__(self, defaults: dict[str, Any] | None = None):
        self.defaults = defaults or DEFAULTS
        self._cached: set[str] = set()
        self._user_settings: dict[str, Any] | None = None

    @property
    def user_settings(self) -> dict[str, Any]:
        if self._user_settings is None:
            value = getattr(django_settings, "THREDFI", {}) or {}
            if not isinstance(value, dict):
                raise ThredfiConfigurationError(
                    "settings.THREDFI must be a dict, e.g. THREDFI = {'PARTNER_UUID': ..., "
                    f"'API_KEY': ...}}; got {type(value).__name__}."
                )
            unknown = sorted(str(key) for key in value if key not in self.defaults)
            if unknown:
                raise ThredfiConfigurationError(
                    f"{unknown_key_message(unknown[0])} Valid keys: "
                    f"{', '.join(sorted(self.defaults))}. (manage.py check lists every problem.)"
                )
            self._user_settings = value
        return self._user_settings

    def __getattr__(self, attr: str) -> Any:
        if attr not in self.defaults:
            raise AttributeError(f"Invalid Thredfi setting: {attr!r}")
        value = self.user_settings.get(attr, self.defaults[attr])
        setting = SETTINGS.get(attr)
        problem = setting.kind.problem(value) if setting and attr in self.user_settings else None
        if problem:
            raise ThredfiConfigurationError(f"settings.THREDFI[{attr!r}] {problem}.")
        self._cached.add(attr)
        setattr(self, attr, value)
        return value

    @property
    def base_url(self) -> str:
        """The API root without a trailing slash, from BASE_URL or ENVIRONMENT."""
        if self.BASE_URL:
            return str(self.BASE_URL).rstrip("/")
        try:
            return ENVIRONMENTS[self.ENVIRONMENT]
        except KeyError:
            raise ThredfiConfigurationError(
                f"settings.THREDFI['ENVIRONMENT'] is {self.ENVIRONMENT!r}; use one of "
                f"{', '.join(ENVIRONMENTS)} or set THREDFI['BASE_URL']."
            ) from None

    def require(self, attr: str) -> Any:
        """The value of ``attr``, or a configuration error naming the setting to fix."""
        value = getattr(self, attr)
        if value in (None, ""):
            raise ThredfiConfigurationError(
                f"settings.THREDFI['{attr}'] is not set. Set it in your project's settings "
                "(read it from the environment or a secrets store rather than committing it)."
            )
        return value

    def reload(self) -> None:
        for attr in self._cached:
            delattr(self, attr)
        self._cached.clear()
        self._user_settings = None


thredfi_settings = ThredfiSettings(DEFAULTS)


def _reload(*, setting: str, **kwargs: Any) -> None:
    if setting == "THREDFI":
        thredfi_settings.reload()


setting_changed.connect(_reload, dispatch_uid="thredfi_django.conf.reload")
