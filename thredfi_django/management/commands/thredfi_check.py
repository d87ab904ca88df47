"""``manage.py thredfi_check``: can this project talk to Thredfi? Says what is wrong if not."""

from __future__ import annotations

from itertools import islice
from urllib.parse import urlsplit

from django.core import checks
from django.core.management.base import BaseCommand, CommandError

from thredfi_django.checks import check_beat_schedule, check_settings
from thredfi_django.client import get_client
from thredfi_django.conf import thredfi_settings
from thredfi_django.engine import pauses
from thredfi_django.exceptions import (
    ThredfiAPIError,
    ThredfiAuthenticationError,
    ThredfiConfigurationError,
    ThredfiError,
    ThredfiNetworkError,
    ThredfiPermissionError,
    ThredfiServerError,
    ThredfiTimeoutError,
)
from thredfi_django.loopback import is_loopback

#: Businesses listed before we stop counting (a check should stay fast on big partners).
LIST_LIMIT = 100


def explain(err: ThredfiError, base_url: str) -> str:
    """One plain-words sentence (or two) saying what went wrong and what to change."""
    if isinstance(err, ThredfiConfigurationError):
        return str(err)
    if isinstance(err, ThredfiAuthenticationError):
        return (
            f"Thredfi at {base_url} rejected the credentials (HTTP 401). Check "
            "THREDFI['PARTNER_UUID'] and THREDFI['API_KEY'] (they must belong to this "
            "environment: sandbox keys do not work on production and vice versa)."
        )
    if isinstance(err, ThredfiPermissionError):
        return (
            f"Thredfi at {base_url} accepted the credentials but refused the request (HTTP 403): "
            "this partner account is not allowed to do this. Ask Thredfi to check its access."
        )
    if isinstance(err, ThredfiTimeoutError):
        return (
            f"Thredfi did not answer in time at {base_url} ({err}). Check THREDFI['BASE_URL'] / "
            "THREDFI['ENVIRONMENT'] and your network, or raise THREDFI['TIMEOUT']."
        )
    if isinstance(err, ThredfiNetworkError):
        return (
            f"Could not connect to Thredfi at {base_url} ({err}). Check THREDFI['BASE_URL'] / "
            "THREDFI['ENVIRONMENT'], DNS, proxies and firewalls; for the demo, is the fake "
            "server running?"
        )
    if isinstance(err, ThredfiServerError):
        return f"Thredfi at {base_url} had a server error ({err}). Try again later."
    if isinstance(err, ThredfiAPIError):
        return f"Thredfi at {base_url} answered with an error: {err}"
    return f"Unexpected error talking to {base_url}: {err}"


class Command(BaseCommand):
    help = (
        "Check the Thredfi settings, credentials and connection: asks for a new partner token "
        "(never a cached one) and lists "
        "businesses, then says in plain words what is wrong. Exits 0 only when all is well."
    )

    def handle(self, *args, **options):
        problems = 0
        for message in [*check_settings(), *check_beat_schedule()]:
            is_error = message.level >= checks.ERROR
            problems += is_error
            style = self.style.ERROR if is_error else self.style.WARNING
            self.stdout.write(style(f"{'✗' if is_error else '!'} {message.msg}"))
            if message.hint:
                self.stdout.write(f"    {message.hint}")
        if problems:
            raise CommandError(f"{problems} setting problem(s); fix them and run again.")

        try:
            base_url = thredfi_settings.base_url
        except ThredfiConfigurationError as err:
            raise CommandError(str(err)) from err
        self.stdout.write(f"Thredfi API: {base_url}")
        parts = urlsplit(base_url)
        if parts.scheme != "https":
            # checks.py already refuses plain HTTP anywhere but loopback; say so for loopback too.
            where = "the local fake server" if is_loopback(parts.hostname or "") else "nowhere"
            self.stdout.write(
                self.style.WARNING(
                    f"! {base_url} is plain HTTP: acceptable for {where} only; "
                    "use https:// for Thredfi itself."
                )
            )

        try:
            client = get_client()
            client.verify_credentials()  # a fresh token: a cached one proves nothing about the key
            self.stdout.write(self.style.SUCCESS("✓ partner token obtained (credentials accepted)"))
            businesses = list(islice(client.businesses.list(), LIST_LIMIT + 1))
        except ThredfiError as err:
            self.stdout.write(self.style.ERROR(f"✗ {explain(err, base_url)}"))
            raise CommandError("Thredfi check failed.") from err

        count = f"{LIST_LIMIT}+" if len(businesses) > LIST_LIMIT else str(len(businesses))
        self.stdout.write(self.style.SUCCESS(f"✓ listed businesses: {count} visible"))
        for scope, pause in pauses.all_pauses().items():
            self.stdout.write(
                self.style.WARNING(
                    f"! sync paused ({scope}) since {pause['since']}: {pause['reason']} The "
                    "credentials work now: the next sweep (sweep_pending) resumes it."
                )
            )
        self.stdout.write(self.style.SUCCESS("All good."))
