"""Django system checks: run by ``manage.py check`` and on every ``runserver``/``migrate``."""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

from django.conf import settings as django_settings
from django.core import checks

from .conf import ENVIRONMENTS, SETTINGS, setting_problems, thredfi_settings
from .exceptions import ThredfiConfigurationError
from .loopback import is_loopback


def _user_settings() -> dict | None:
    """``settings.THREDFI`` as written (None if it is not a dict): checks never raise."""
    value = getattr(django_settings, "THREDFI", None)
    if value is None:
        return {}
    return value if isinstance(value, dict) else None


@checks.register(checks.Tags.compatibility)
def check_settings(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Every THREDFI key and value; then credentials, partner UUID, base URL and environment."""
    user = _user_settings()
    if user is None:
        return [
            checks.Error(
                "settings.THREDFI must be a dict.",
                hint="In your settings, write THREDFI = {'PARTNER_UUID': ..., 'API_KEY': ...}.",
                id="thredfi_django.E000",
            )
        ]
    errors: list[checks.CheckMessage] = []
    problems = setting_problems(user)
    for key, message in problems:
        if key in SETTINGS:
            hint = (
                f"Fix THREDFI[{key!r}] in your project's settings, or remove it to use the "
                f"default ({SETTINGS[key].default!r})."
            )
        else:
            hint = "Correct or remove that key in your project's THREDFI setting."
        check_id = "E009" if key in SETTINGS else "E008"
        errors.append(checks.Error(message, hint=hint, id=f"thredfi_django.{check_id}"))
    invalid = {key for key, _ in problems}
    user = {key: value for key, value in user.items() if key not in invalid}

    for key, check_id in (("PARTNER_UUID", "E001"), ("API_KEY", "E002")):
        if not user.get(key) and key not in invalid:
            errors.append(
                checks.Error(
                    f"settings.THREDFI['{key}'] is not set.",
                    hint=f"Set THREDFI['{key}'] in your project's settings; Thredfi issues it "
                    "with your partner account. Read it from the environment or a secrets "
                    "store rather than committing it.",
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
    user = _user_settings() or {}
    alias = user.get("TOKEN_CACHE", SETTINGS["TOKEN_CACHE"].default)
    if not isinstance(alias, str):
        return []  # check_settings reports it
    caches = getattr(django_settings, "CACHES", {})
    if alias not in caches:
        return [
            checks.Error(
                f"settings.THREDFI['TOKEN_CACHE'] is {alias!r}, which is not in settings.CACHES.",
                hint=f"Use one of {', '.join(caches) or 'your CACHES aliases'}.",
                id="thredfi_django.E007",
            )
        ]
    if caches[alias].get("BACKEND", "").endswith("DummyCache"):
        return [
            checks.Warning(
                f"The cache {alias!r} holding Thredfi tokens is a DummyCache, so every API call "
                "would fetch a new token.",
                hint="Point THREDFI['TOKEN_CACHE'] at a real cache shared by your web and worker "
                "processes (Redis or Memcached).",
                id="thredfi_django.W002",
            )
        ]
    limits = user.get("RATE_LIMIT") or {}
    per_process = ("LocMemCache", "DummyCache", "FileBasedCache", "DatabaseCache")
    if isinstance(limits, dict) and any(limits.values()):
        backend = caches[alias].get("BACKEND", "")
        if backend.endswith(per_process):
            return [
                checks.Warning(
                    f"THREDFI['RATE_LIMIT'] is counted in the cache {alias!r} "
                    f"({backend.rsplit('.', 1)[-1]}), which cannot count for every worker at "
                    "once: each process would keep to the limit on its own.",
                    hint="Point THREDFI['TOKEN_CACHE'] at Redis or Memcached, shared by all "
                    "worker processes.",
                    id="thredfi_django.W005",
                )
            ]
    return []


#: The Celery name of the periodic sweep (``tasks.sweep_pending``), the one a beat entry needs.
SWEEP_TASK = "thredfi_django.sweep_pending"


def thredfi_task_names() -> set[str]:
    """The Celery names of this app's tasks, as registered by ``thredfi_django.tasks``."""
    from celery import current_app

    from . import tasks  # noqa: F401  (defines the shared tasks the app below registers)

    return {name for name in current_app.tasks if name.startswith("thredfi_django.")}


@checks.register(checks.Tags.compatibility)
def check_beat_schedule(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """CELERY_BEAT_SCHEDULE: every thredfi_django task it names exists, and one is the sweep,
    which re-enqueues work a lost task or a broker outage left behind."""
    from django.conf import settings

    schedule = getattr(settings, "CELERY_BEAT_SCHEDULE", None) or {}
    known = thredfi_task_names()
    messages: list[checks.CheckMessage] = []
    for entry, options in schedule.items():
        task = options.get("task", "") if isinstance(options, dict) else ""
        if task.startswith("thredfi_django") and task not in known:
            messages.append(
                checks.Warning(
                    f"settings.CELERY_BEAT_SCHEDULE[{entry!r}] runs {task!r}, which is not a "
                    "Celery task, so beat would schedule nothing.",
                    hint=f"Use one of: {', '.join(sorted(known))} (the sweep is {SWEEP_TASK!r}).",
                    id="thredfi_django.W003",
                )
            )
    tasks = {options.get("task") for options in schedule.values() if isinstance(options, dict)}
    if SWEEP_TASK not in tasks:
        messages.append(
            checks.Warning(
                f"settings.CELERY_BEAT_SCHEDULE does not run {SWEEP_TASK!r}, so changes whose "
                "task was lost (broker down at save time, worker killed) are never pushed.",
                hint=f"Add {{'thredfi-sweep': {{'task': '{SWEEP_TASK}', 'schedule': 60.0}}}} "
                "and run `celery -A proj beat`. If cron runs `manage.py thredfi_sweep` "
                "instead, add 'thredfi_django.W004' to SILENCED_SYSTEM_CHECKS.",
                id="thredfi_django.W004",
            )
        )
    return messages


#: Values of THREDFI['LINE_SCHEMA'] (README, "Invoice and bill lines").
LINE_SCHEMAS = ("guide", "reference")
#: Resources that name a ledger account (their lines' or their own).
LINE_PARENTS = ("invoice", "bill", "customer_credit", "vendor_credit", "write_off")
#: Documented ledger account types (digest §3.9.8).
ACCOUNT_TYPES = ("asset", "liability", "equity", "revenue", "expense")


@checks.register(checks.Tags.compatibility)
def check_ledger_settings(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """What is inside ACCOUNT_CODES and LEDGER_ACCOUNTS (the settings table checks that they
    are dicts, and LINE_SCHEMA and CHART_CACHE_SECONDS themselves)."""
    try:
        codes, accounts = thredfi_settings.ACCOUNT_CODES, thredfi_settings.LEDGER_ACCOUNTS
    except ThredfiConfigurationError:
        return []  # reported by check_settings
    errors: list[checks.CheckMessage] = []

    def error(text: str, hint: str, check_id: str) -> None:
        errors.append(checks.Error(text, hint=hint, id=f"thredfi_django.{check_id}"))

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
    return errors
