"""Django system checks: run by ``manage.py check`` and on every ``runserver``/``migrate``."""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

from django.core import checks

from .conf import ENVIRONMENTS, thredfi_settings
from .exceptions import ThredfiConfigurationError
from .hosts import is_loopback


@checks.register(checks.Tags.compatibility)
def check_settings(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """THREDFI credentials, partner UUID, base URL and environment."""
    errors: list[checks.CheckMessage] = []
    try:
        user = thredfi_settings.user_settings
    except ThredfiConfigurationError as err:
        return [checks.Error(str(err), hint="Fix settings.THREDFI.", id="thredfi_django.E000")]

    for key, check_id in (("PARTNER_UUID", "E001"), ("API_KEY", "E002")):
        if not user.get(key):
            errors.append(
                checks.Error(
                    f"settings.THREDFI['{key}'] is not set.",
                    hint=f"Set THREDFI['{key}'] (the demo reads it from the environment "
                    f"variable THREDFI_{key}); Thredfi issues it with your partner account.",
                    id=f"thredfi_django.{check_id}",
                )
            )

    partner = user.get("PARTNER_UUID")
    if partner:
        try:
            uuid.UUID(str(partner))
        except ValueError:
            errors.append(
                checks.Error(
                    f"settings.THREDFI['PARTNER_UUID'] is {partner!r}, which is not a UUID.",
                    hint="Copy the Partner UUID from your Thredfi onboarding e-mail, e.g. "
                    "'3f0b2c1e-8d4a-4b6e-9c2d-1a2b3c4d5e6f'.",
                    id="thredfi_django.E003",
                )
            )

    base_url = user.get("BASE_URL")
    if base_url:
        parts = urlsplit(str(base_url))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            errors.append(
                checks.Error(
                    f"settings.THREDFI['BASE_URL'] is {base_url!r}, which is not an http(s) URL.",
                    hint="Use e.g. 'https://sandbox.thredfi.com', or remove BASE_URL and set "
                    "THREDFI['ENVIRONMENT'].",
                    id="thredfi_django.E004",
                )
            )
        elif parts.scheme != "https" and not is_loopback(parts.hostname):
            errors.append(
                checks.Error(
                    f"settings.THREDFI['BASE_URL'] is {base_url!r}: plain HTTP would send the "
                    "API key and tokens in clear text.",
                    hint="Use an https:// URL. Plain http:// is only accepted for 127.0.0.1 or "
                    "localhost (the fake Thredfi server).",
                    id="thredfi_django.E005",
                )
            )
    elif user.get("ENVIRONMENT", "sandbox") not in ENVIRONMENTS:
        errors.append(
            checks.Error(
                f"settings.THREDFI['ENVIRONMENT'] is {user.get('ENVIRONMENT')!r}.",
                hint=f"Use one of {', '.join(ENVIRONMENTS)}, or set THREDFI['BASE_URL'].",
                id="thredfi_django.E006",
            )
        )
    return errors


@checks.register(checks.Tags.compatibility)
def check_celery(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Sync work runs in Celery: warn when no Celery app or broker is configured."""
    from celery import current_app

    app = current_app._get_current_object()
    if app.main == "default" and not app.conf.broker_url:
        return [
            checks.Warning(
                "No Celery app is configured, so Thredfi sync tasks will never run.",
                hint="Create a Celery app in your project (proj/celery.py with "
                "app.config_from_object('django.conf:settings', namespace='CELERY') and "
                "app.autodiscover_tasks()), import it in proj/__init__.py, and set "
                "CELERY_BROKER_URL.",
                id="thredfi_django.W001",
            )
        ]
    return []


@checks.register(checks.Tags.caches)
def check_token_cache(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Tokens live in a Django cache; a dummy cache would mean one token fetch per API call."""
    from django.conf import settings

    alias = thredfi_settings.CACHE_ALIAS
    caches = getattr(settings, "CACHES", {})
    if alias not in caches:
        return [
            checks.Error(
                f"settings.THREDFI['CACHE_ALIAS'] is {alias!r}, which is not in settings.CACHES.",
                hint=f"Use one of {', '.join(caches) or 'your CACHES aliases'}.",
                id="thredfi_django.E007",
            )
        ]
    if caches[alias].get("BACKEND", "").endswith("DummyCache"):
        return [
            checks.Warning(
                f"The cache {alias!r} holding Thredfi tokens is a DummyCache, so every API call "
                "would fetch a new token.",
                hint="Point THREDFI['CACHE_ALIAS'] at a real cache shared by your web and worker "
                "processes (Redis or Memcached).",
                id="thredfi_django.W002",
            )
        ]
    return []


#: Values of THREDFI['LINE_SCHEMA'] (README, "Invoice and bill lines").
LINE_SCHEMAS = ("guide", "reference")
#: Resources that name a ledger account (their lines' or their own).
LINE_PARENTS = ("invoice", "bill", "customer_credit", "vendor_credit", "write_off")
#: Documented ledger account types (digest §3.9.8).
ACCOUNT_TYPES = ("asset", "liability", "equity", "revenue", "expense")


@checks.register(checks.Tags.compatibility)
def check_ledger_settings(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """LINE_SCHEMA, ACCOUNT_CODES, LEDGER_ACCOUNTS and CHART_CACHE_SECONDS."""
    try:
        s = thredfi_settings
        schema, codes = s.LINE_SCHEMA, s.ACCOUNT_CODES
        accounts, ttl = s.LEDGER_ACCOUNTS, s.CHART_CACHE_SECONDS
    except ThredfiConfigurationError:
        return []  # reported by check_settings (E000)
    errors: list[checks.CheckMessage] = []

    def error(text: str, hint: str, check_id: str) -> None:
        errors.append(checks.Error(text, hint=hint, id=f"thredfi_django.{check_id}"))

    if schema not in LINE_SCHEMAS:
        error(
            f"settings.THREDFI['LINE_SCHEMA'] is {schema!r}.",
            "Use 'guide' (unit_price_cents + account_code, the default) or 'reference' "
            "(unit_price + account_identifier); the README says which to pick.",
            "E020",
        )
    if not isinstance(codes, dict) or not all(
        key in LINE_PARENTS and isinstance(code, str) and code.strip()
        for key, code in codes.items()
    ):
        error(
            f"settings.THREDFI['ACCOUNT_CODES'] is {codes!r}.",
            f"Use a dict of line parent ({', '.join(LINE_PARENTS)}) -> ledger account code, "
            "e.g. {'invoice': '4000', 'bill': '5000'}.",
            "E021",
        )
    if not isinstance(accounts, dict) or not all(
        isinstance(code, str)
        and isinstance(spec, dict)
        and spec.get("name")
        and spec.get("account_type") in ACCOUNT_TYPES
        for code, spec in accounts.items()
    ):
        error(
            f"settings.THREDFI['LEDGER_ACCOUNTS'] is {accounts!r}.",
            "Use a dict of code -> {'name': ..., 'account_type': one of "
            f"{', '.join(ACCOUNT_TYPES)}}}, e.g. {{'4000': {{'name': 'Sales', "
            "'account_type': 'revenue'}}.",
            "E022",
        )
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or ttl < 1:
        error(
            f"settings.THREDFI['CHART_CACHE_SECONDS'] is {ttl!r}.",
            "Use a number of seconds >= 1 (after creating an account elsewhere, "
            "thredfi_django.ledger.forget(business_id) drops the cached chart at once).",
            "E023",
        )
    return errors
