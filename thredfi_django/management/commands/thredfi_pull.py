"""``manage.py thredfi_pull``: read back from Thredfi what changed there (statuses, amounts).

The same as the ``thredfi_django.pull_remote`` Celery beat task (``engine/pull.py``), for one
business or all, with a line per business. Exits 1 when Thredfi could not be read for a business.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from thredfi_django.conf import thredfi_settings
from thredfi_django.engine.pull import pull

from ._businesses import business_states


class Command(BaseCommand):
    help = (
        "Read each business's invoices, payments, bills and customer credits back from "
        "Thredfi and store their status and amounts on the sync states; sends remote_changed "
        "for each that changed. Exits 1 if Thredfi could not be read for a business."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--business", metavar="ID",
            help="Only this business: its local id, external_id or Thredfi ID (default: all).",
        )  # fmt: skip
        parser.add_argument(
            "--full", action="store_true",
            help="Read every page, not only the first THREDFI['PULL_MAX_PAGES'] of each list.",
        )  # fmt: skip

    def handle(self, *args, business: str | None, full: bool, **options):
        ids = list(
            business_states(business).filter(remote_id__isnull=False).values_list("pk", flat=True)
        )
        if not ids:
            self.stdout.write("No business is in Thredfi yet.")
            return
        results = pull(ids, full=full)
        if not results:
            raise CommandError("Pushes are paused (see thredfi_status): nothing was read.")
        failed = 0
        for result in results:
            state = result.business
            name = f"{state.label} ({state.remote_id})"
            if result.error is not None:
                failed += 1
                self.stdout.write(self.style.ERROR(f"✗ {name}: {result.error}"))
                continue
            pages = (
                "every page" if result.full else f"≤ {thredfi_settings.PULL_MAX_PAGES} pages each"
            )
            self.stdout.write(
                f"{name}: read {result.read} record(s) ({pages}), matched {result.matched}, "
                f"{result.changed} changed"
            )
        skipped = len(ids) - len(results)
        if skipped:
            self.stdout.write(self.style.WARNING(f"{skipped} paused business(es) skipped."))
        if failed:
            raise CommandError(f"Thredfi could not be read for {failed} business(es).")
