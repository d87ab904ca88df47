"""``manage.py thredfi_status``: where every synced object stands, at a glance."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.contenttypes.models import ContentType
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Count
from django.utils import timezone

from thredfi_django.counts import status_counts
from thredfi_django.engine import pauses
from thredfi_django.engine.absorb import absorb_all
from thredfi_django.models import SyncState, SyncStatus

from ..untracked import untracked_counts

#: States a person should look at; ``--check`` exits non-zero while any exist.
PROBLEM_STATUSES = (SyncStatus.FAILED, SyncStatus.NEEDS_ATTENTION)
#: The table's column of host objects without a sync-state row.
NEVER_RECORDED = "never_recorded"


def model_label(content_type_id: int) -> str:
    """``app_label.Model`` for a content type id (cached by Django)."""
    ct = ContentType.objects.get_for_id(content_type_id)
    model = ct.model_class()
    return model._meta.label if model else f"{ct.app_label}.{ct.model} (deleted model)"


def humanize_age(delta: timedelta) -> str:
    """``3d 4h``, ``2h 5m``, ``4m 10s`` or ``12s``: the two largest units."""
    seconds = max(int(delta.total_seconds()), 0)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m {seconds}s"
    return f"{seconds}s"


class Command(BaseCommand):
    help = (
        "Show Thredfi sync status: object counts per model and status (including objects of "
        "synced models never recorded, e.g. by bulk_create), the oldest pending object, and the "
        "most recent failures with their error code and message."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--failures",
            type=int,
            default=10,
            metavar="N",
            help="How many recent failures to list (default 10; 0 hides them).",
        )
        parser.add_argument(
            "--check",
            action="store_true",
            help="Exit with status 1 when any object is failed or needs attention "
            "(for monitoring and cron).",
        )

    def handle(self, *args, failures: int, check: bool, **options):
        absorb_all()  # saves the drain has not taken in yet count as pending
        counted = status_counts()
        table: dict[str, dict[str, int]] = {}
        for content_type_id, by_status in counted.by_model.items():
            counts = table.setdefault(model_label(content_type_id), {})
            for status, n in by_status.items():
                counts[status] = counts.get(status, 0) + n
        never = untracked_counts()
        for label, n in never.items():
            table.setdefault(label, {})[NEVER_RECORDED] = n

        if not table:
            self.stdout.write("No objects are tracked for Thredfi sync yet.")
            return
        self._write_table(table)
        if counted.estimated:
            self.stdout.write(
                "(synced and total: the database's estimate, the table being larger than "
                "EXACT_COUNT_LIMIT; every other status is counted exactly)"
            )
        if never:
            self.stdout.write(
                self.style.WARNING(
                    f"\n{sum(never.values()):,} object(s) were never recorded for sync (created "
                    "by bulk_create, a raw query or before thredfi_django was installed), so "
                    "nothing will push them. Run `manage.py thredfi_sync` to record and push them."
                )
            )
        self._write_oldest_pending()
        self._write_remote_stale()
        if failures > 0:
            self._write_failures(failures)

        for scope, pause in pauses.all_pauses().items():
            self.stdout.write(
                self.style.ERROR(
                    f"Sync paused ({scope}) since {pause['since']}: {pause['reason']} Rows wait, "
                    "pending; the sweep resumes by itself once Thredfi issues a token again "
                    "(check the credentials with manage.py thredfi_check)."
                )
            )
        problems = sum(c.get(s, 0) for c in table.values() for s in PROBLEM_STATUSES)
        if check and problems:
            raise CommandError(f"{problems} object(s) failed or need attention.", returncode=1)

    def _write_table(self, table: dict[str, dict[str, int]]) -> None:
        statuses = [value for value, _ in SyncStatus.choices] + [NEVER_RECORDED]
        width = max(len("model"), *(len(label) for label in table))
        header = f"{'model':<{width}}  " + "  ".join(f"{s:>{len(s)}}" for s in statuses)
        self.stdout.write(self.style.MIGRATE_HEADING(header + "    total"))
        totals = dict.fromkeys(statuses, 0)
        for label in sorted(table):
            counts = table[label]
            cells = []
            for s in statuses:
                totals[s] += counts.get(s, 0)
                cells.append(f"{counts.get(s, 0):>{len(s)}}")
            line = f"{label:<{width}}  " + "  ".join(cells) + f"  {sum(counts.values()):>7}"
            self.stdout.write(line)
        line = f"{'all':<{width}}  " + "  ".join(f"{totals[s]:>{len(s)}}" for s in statuses)
        self.stdout.write(self.style.MIGRATE_LABEL(line + f"  {sum(totals.values()):>7}"))

    def _write_oldest_pending(self) -> None:
        oldest = (
            SyncState.objects.filter(status=SyncStatus.PENDING)
            .only("content_type_id", "object_id", "label", "updated_at", "next_attempt_at")
            .order_by("updated_at")
            .first()
        )
        if oldest is None:
            self.stdout.write("\nNothing is pending.")
            return
        now = timezone.now()
        # updated_at is the last time anything happened to the row (a save or an attempt), so
        # its age is how long the object has waited without progress.
        text = (
            f"\nOldest pending: {model_label(oldest.content_type_id)} #{oldest.object_id}"
            f" {oldest.label!r}, waiting {humanize_age(now - oldest.updated_at)}"
        )
        if oldest.next_attempt_at and oldest.next_attempt_at > now:
            text += f" (next attempt in {humanize_age(oldest.next_attempt_at - now)})"
        self.stdout.write(text)

    def _write_remote_stale(self) -> None:
        """Synced rows whose later changes Thredfi could not take (no update endpoint)."""
        rows = (
            SyncState.objects.filter(remote_stale=True)
            .values("content_type_id")
            .annotate(n=Count("id"))
            .order_by()
        )
        for row in rows:
            self.stdout.write(
                self.style.WARNING(
                    f"{row['n']} {model_label(row['content_type_id'])} object(s) outdated in "
                    "Thredfi: changed after their first push, which Thredfi has no update for."
                )
            )

    def _write_failures(self, limit: int) -> None:
        failed = list(
            SyncState.objects.filter(status__in=PROBLEM_STATUSES).order_by("-last_error_at", "-id")[
                :limit
            ]
        )
        if not failed:
            self.stdout.write("No failures.")
            return
        self.stdout.write(self.style.MIGRATE_HEADING(f"\nRecent failures (last {len(failed)}):"))
        for state in failed:
            when = f"{state.last_error_at:%Y-%m-%d %H:%M:%S}" if state.last_error_at else "-"
            code = state.last_error_code or state.last_error_kind or "error"
            http = f" HTTP {state.last_error_status}" if state.last_error_status else ""
            message = (state.last_error_message or "").strip().splitlines() or [""]
            self.stdout.write(
                f"  {when}  {model_label(state.content_type_id)} #{state.object_id}"
                f" {state.label!r} [{state.status}] {code}{http}: {message[0]}"
            )
