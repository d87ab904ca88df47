"""The one setting, ``THREDFI = {...}``, read lazily.

Modelled on ``rest_framework/settings.py``: nothing is read at import time, values are looked up
on first attribute access and cached, and the cache is dropped on Django's ``setting_changed``
signal so ``override_settings(THREDFI=...)`` works in tests.

    from thredfi_django.conf import thredfi_settings
    thredfi_settings.BASE_URL
"""

from __future__ import annotations

from typing import Any

from django.conf import settings as django_settings
from django.core.signals import setting_changed

from .exceptions import ThredfiConfigurationError

#: Named environments and their hosts (see ../shared/thredfi-api.md §1). Production follows the
#: backend guide and the published widget (backend.thredfi.com); the MCP page's api.thredfi.com
#: can be used by setting BASE_URL.
ENVIRONMENTS = {
    "sandbox": "https://sandbox.thredfi.com",
    "development": "https://dev-backend.thredfi.com",
    "staging": "https://staging-backend.thredfi.com",
    "production": "https://backend.thredfi.com",
}

DEFAULTS: dict[str, Any] = {
    # Credentials: the partner UUID is the HTTP Basic username, the API key its password.
    "PARTNER_UUID": None,
    "API_KEY": None,
    # Either a named ENVIRONMENT or an explicit BASE_URL (BASE_URL wins).
    "ENVIRONMENT": "sandbox",
    "BASE_URL": None,
    # requests timeout: (connect, read) seconds. Every call has one.
    "TIMEOUT": (5.0, 30.0),
    # Refresh a cached token when fewer than this many seconds of its life remain.
    "TOKEN_REFRESH_MARGIN": 300,
    # Django cache alias holding tokens (shared by every worker process).
    "CACHE_ALIAS": "default",
    # Retry policy for transient failures (timeouts, connection errors, 5xx, 429).
    "MAX_ATTEMPTS": 10,
    "BACKOFF_BASE": 2.0,  # seconds; delay = base * 2**(attempt-1), jittered
    "BACKOFF_MAX": 3600.0,  # seconds
    # external_id = f"{EXTERNAL_ID_PREFIX}:{EXTERNAL_ID_NAMESPACE}:{app_label.model}:{pk}"
    "EXTERNAL_ID_PREFIX": "dj",
    "EXTERNAL_ID_NAMESPACE": "default",
    # Master switch and per-model pause list ("app_label.ModelName").
    "SYNC_ENABLED": True,
    "PAUSED_MODELS": [],
    # How long a worker owns a claimed sync-state row before another may take it over.
    "LEASE_SECONDS": 120,
    # Celery queue for sync tasks (None: Celery's default queue).
    "CELERY_QUEUE": None,
    # How pending work reaches the workers. "drain": a coalesced drain_pending task wakes a
    # worker, which claims due rows in batches and pushes them together (kick.py, batch.py).
    # "per_object": one sync_object task per row (simplest to trace, slower per object).
    "DISPATCH": "drain",
    # Drain kicks: "background" (a daemon thread of the saving process publishes) or "inline"
    # (the after-commit callback publishes); at most one per DRAIN_KICK_INTERVAL seconds per
    # process, plus one at the end of the interval if asked during it.
    "DRAIN_KICK": "background",
    "DRAIN_KICK_INTERVAL": 0.05,
    # Rows a drain claims per batch, and how long one drain task runs before handing over.
    "DRAIN_BATCH": 100,
    "DRAIN_TIME_LIMIT": 30.0,
    # Concurrent HTTP requests within one batch (threads of the worker process).
    "DRAIN_HTTP_CONCURRENCY": 4,
    # Sweep: rows pending longer than this without a worker picking them up are re-enqueued.
    "SWEEP_STALE_SECONDS": 60,
    # Attempt history rows kept per object.
    "ATTEMPT_HISTORY": 20,
    # Invoice/bill line schema (digest §10 q9; README "Invoice and bill lines"): "guide" sends
    # unit_price_cents + account_code, "reference" sends unit_price (cents) + account_identifier
    # {"type": "AccountId", "id": <ledger account uuid>} looked up in the chart of accounts.
    "LINE_SCHEMA": "guide",
    # Ledger account code of a line whose model names none, per parent resource (and of a
    # write-off's destination_account, under "write_off": not sent when absent).
    "ACCOUNT_CODES": {
        "invoice": "4000",
        "bill": "5000",
        "customer_credit": "4000",
        "vendor_credit": "5000",
    },
    # Accounts ``manage.py thredfi_accounts --create-missing`` creates where a business lacks
    # them: code -> {"name", "account_type"[, "account_subtype"]}.
    "LEDGER_ACCOUNTS": {
        "4000": {"name": "Sales", "account_type": "revenue"},
        "5000": {"name": "Cost of sales", "account_type": "expense"},
    },
    # Seconds a business's chart of accounts is cached (one paged GET per business per period).
    "CHART_CACHE_SECONDS": 3600,
    # Frontend token view (thredfi_django.views.BusinessTokenView): dotted path to a callable
    # resolver(request, requested_id: str | None) -> business object (with thredfi_id) or None
    # (= forbidden). It alone decides which business a user may get a token for.
    "TOKEN_BUSINESS_RESOLVER": None,
}


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
            unknown = sorted(set(value) - set(self.defaults))
            if unknown:
                raise ThredfiConfigurationError(
                    f"Unknown key(s) in settings.THREDFI: {', '.join(unknown)}. "
                    f"Valid keys: {', '.join(sorted(self.defaults))}."
                )
            self._user_settings = value
        return self._user_settings

    def __getattr__(self, attr: str) -> Any:
        if attr not in self.defaults:
            raise AttributeError(f"Invalid Thredfi setting: {attr!r}")
        value = self.user_settings.get(attr, self.defaults[attr])
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
                f"settings.THREDFI['{attr}'] is not set. Set it (the demo reads "
                f"THREDFI_{attr} from the environment)."
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
