"""``manage.py thredfi_sweep``: re-enqueue sync work nobody picked up (cron-friendly).

The same as the ``thredfi_django.sweep_pending`` Celery beat task: due pending rows, rows whose
worker died (expired lease) and blocked rows whose dependency has synced go back on the queue.
Run it from cron when you do not run Celery beat, e.g. every minute.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand

from thredfi_django.conf import thredfi_settings
from thredfi_django.engine.sweep import sweep
from thredfi_django.models import SyncState, SyncStatus


class Command(BaseCommand):
    help = "Re-enqueue Thredfi sync rows that are due and that no worker is handling."

    def handle(self, *args, **options):
        if not thredfi_settings.SYNC_ENABLED:
            self.stdout.write(
                self.style.WARNING("THREDFI['SYNC_ENABLED'] is False: nothing was enqueued.")
            )
            return
        count = sweep()
        waiting = SyncState.objects.filter(status=SyncStatus.PENDING).count()
        self.stdout.write(
            self.style.SUCCESS(f"Enqueued {count} row(s); {waiting} pending in total.")
        )
