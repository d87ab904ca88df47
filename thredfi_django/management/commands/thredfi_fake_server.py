"""``manage.py thredfi_fake_server``: run the fake Thredfi API over HTTP for demos and tests.

Same options as ``python -m thredfi_django.testing.server``; the partner UUID and API key
default to ``THREDFI["PARTNER_UUID"]`` / ``["API_KEY"]``, so the project's own client can talk
to it once ``THREDFI["BASE_URL"]`` points at the printed URL. Loopback only unless
``--allow-remote``. Stop with Ctrl-C (or SIGTERM).
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from thredfi_django.conf import thredfi_settings
from thredfi_django.testing.server import add_arguments, run


class Command(BaseCommand):
    help = "Run the fake Thredfi API (in-memory emulator) on a local HTTP port."
    # The fake needs none of the project's checks (and must start even when they warn).
    requires_system_checks: list[str] = []

    def add_arguments(self, parser):
        add_arguments(parser)

    def handle(self, *args, **options):
        options["partner_uuid"] = options["partner_uuid"] or thredfi_settings.PARTNER_UUID
        options["api_key"] = options["api_key"] or thredfi_settings.API_KEY
        if not (options["partner_uuid"] and options["api_key"]):
            raise CommandError(
                "No partner credentials: pass --partner-uuid and --api-key or set "
                "THREDFI['PARTNER_UUID'] and THREDFI['API_KEY']."
            )
        try:
            run(options, out=self.stdout)
        except (ValueError, OSError) as exc:
            raise CommandError(str(exc)) from exc
