"""``manage.py thredfi_sync``: push all or some objects to Thredfi (queued, inline or dry run)."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.core.management.base import BaseCommand, CommandError
from django.db import router, transaction
from django.db.models import Max, Q, QuerySet
from django.utils import timezone

from thredfi_django.conf import thredfi_settings
from thredfi_django.engine import absorb
from thredfi_django.engine.drain import sync_state
from thredfi_django.engine.plan import preview
from thredfi_django.mixins import ThredfiSyncMixin
from thredfi_django.models import SyncLane, SyncState, SyncStatus
from thredfi_django.recording import changes, resync
from thredfi_django.sql import insert_rows
from thredfi_django.tasks import sweep_pending

from ..sync_report import SAMPLE, SHOW_ALL_UP_TO, SyncReport, shown_in_full
from ..untracked import synced_models, untracked_objects
from ._businesses import add_business_argument, one_business_state
from ._progress import Progress

#: Rows per UPDATE / task batch: keeps memory flat and stays far below every database's limit
#: on bound parameters (SQLite 32766, PostgreSQL 65535).
CHUNK = 2000
#: What "sync" means without --status: everything that is not already done.
DEFAULT_STATUSES = [
    SyncStatus.PENDING,
    SyncStatus.BLOCKED,
    SyncStatus.FAILED,
    SyncStatus.NEEDS_ATTENTION,
]
#: Up to this many rows get one Celery task each (request_sync). Beyond it, publishing a task
#: per row costs more than everything else (~100-300 µs each: 100,000 rows would take 15-30 s
#: on a memory or Redis broker), and no worker pushes that many objects before the sweep has
#: handed them over anyway: the rows are made due in bulk UPDATEs and one sweep task is sent;
#: the sweep feeds them to the workers in batches (Celery beat keeps it running).
DIRECT_LIMIT = 10_000
#: --now outcomes that mean "this object is not in Thredfi as it is now".
FAILED_OUTCOMES = {"blocked", "retry", "failed", "needs_attention", "missing"}
#: Where to look when --business names no business.
STATUS_HINT = " Run `manage.py thredfi_status` to see what is tracked."


class Command(BaseCommand):
    help = (
        "Push objects to Thredfi. Without options: every object that is not synced yet "
        "(pending, blocked, failed, needs attention), plus objects of synced models that were "
        "never recorded (e.g. created before thredfi_django was installed, or by bulk_create). "
        "Queues them for the Celery worker by default; --now pushes inline; --dry-run only "
        "shows the requests. Exits 1 when something failed."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--model", action="append", default=[], metavar="APP.MODEL",
            help="Only this model (repeatable), e.g. billing.Invoice.",
        )  # fmt: skip
        add_business_argument(
            parser,
            help="Only this business and its objects: its local id, external_id or Thredfi ID.",
        )
        parser.add_argument(
            "--status", action="append", default=[],
            choices=[*SyncStatus.values, "all"],
            help="Only objects in this status (repeatable; 'all' for every status, which also "
            "re-sends synced objects). Default: everything not synced.",
        )  # fmt: skip
        parser.add_argument(
            "--ids", action="append", default=[], metavar="PK[,PK…]",
            help="Only these primary keys (comma-separated, repeatable; any status unless "
            "--status is given); needs one --model.",
        )  # fmt: skip
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument(
            "--now", action="store_true",
            help="Push inline in this process (no Celery worker needed); waits for each.",
        )  # fmt: skip
        mode.add_argument(
            "--dry-run", action="store_true",
            help="Show method, path and payload of the requests; send and change nothing. "
            f"More than {SHOW_ALL_UP_TO} objects: the first {SAMPLE} and a summary by model, "
            "operation and business (see --full and --limit).",
        )  # fmt: skip
        parser.add_argument(
            "--full", action="store_true",
            help="Write every request (--dry-run) or every object not synced (--now) in full.",
        )  # fmt: skip
        parser.add_argument(
            "--limit", type=int, metavar="N",
            help="Write at most N requests (--dry-run) or objects not synced (--now) in full; "
            "the rest are counted in the summary.",
        )  # fmt: skip

    # -- selection -------------------------------------------------------------------------

    def _models(self, labels: list[str]) -> list[type[ThredfiSyncMixin]]:
        known = synced_models()
        if not labels:
            return known
        chosen = []
        for label in labels:
            try:
                model = apps.get_model(label)
            except (LookupError, ValueError):
                model = None
            if model not in known:
                names = ", ".join(sorted(m._meta.label for m in known)) or "none"
                raise CommandError(
                    f"{label!r} is not a model synced with Thredfi. Synced models: {names}."
                )
            chosen.append(model)
        return chosen

    def _selection(self, options) -> tuple[QuerySet, dict]:
        models = self._models(options["model"])
        ids = [i.strip() for chunk in options["ids"] for i in chunk.split(",") if i.strip()]
        if ids and len(models) != 1:
            raise CommandError("--ids needs exactly one --model (primary keys are per model).")
        cts = ContentType.objects.get_for_models(*models, for_concrete_models=False)
        qs = SyncState.objects.filter(content_type__in=[cts[m].pk for m in models])
        # Objects named by id are wanted whatever their status.
        statuses = options["status"] or (["all"] if ids else DEFAULT_STATUSES)
        if "all" not in statuses:
            qs = qs.filter(status__in=statuses)
        if ids:
            qs = qs.filter(object_id__in=ids)
        if options["business"]:
            business = one_business_state(options["business"], hint=STATUS_HINT)
            qs = qs.filter(Q(business=business) | Q(pk=business.pk))
        # Objects never recorded have no status and no business link yet: include them only
        # when the selection is by model / id alone.
        untracked = {}
        if not options["status"] and not options["business"]:
            for model in models:
                pks = untracked_objects(model)
                if ids:
                    pks = pks.filter(pk__in=ids)
                untracked[model] = pks
        return qs, untracked

    # -- main ------------------------------------------------------------------------------

    def handle(self, *args, **options):
        if not options["dry_run"]:
            # Saves only marked on their rows so far become pending rows, selected below.
            absorb.absorb_all(CHUNK)
        selected, untracked = self._selection(options)
        # Rows recorded below are handled as "recorded", never a second time as "selected".
        boundary = SyncState.objects.aggregate(last=Max("pk"))["last"] or 0
        selected = selected.filter(pk__lte=boundary)
        total = selected.count()
        new = {model: qs.count() for model, qs in untracked.items()}
        if not total and not any(new.values()):
            self.stdout.write("Nothing to sync: no object matches.")
            return
        if options["dry_run"]:
            return self._dry_run(selected, total + sum(new.values()), untracked, options)
        if not thredfi_settings.SYNC_ENABLED:
            self.stdout.write(
                self.style.WARNING(
                    "THREDFI['SYNC_ENABLED'] is False: objects are recorded but not pushed."
                )
            )
        bulk = not options["now"] and total + sum(new.values()) > DIRECT_LIMIT
        now = timezone.now()
        recorded = self._record_untracked(untracked, new, due_at=now if bulk else None)
        if options["now"]:
            failed = self._now(selected, total + len(recorded), recorded, options)
            if failed:
                raise CommandError(f"{failed} object(s) could not be synced (see above).")
        else:
            self._queue(selected, total, recorded, bulk)

    # -- recording objects never recorded -------------------------------------------------

    def _record_untracked(self, untracked: dict, counts: dict, due_at) -> list[int]:
        """Create the sync-state rows of objects never recorded (e.g. rows that existed before
        thredfi_django was installed, or came from bulk_create), in bulk: one INSERT per chunk
        instead of the outbox's per-save upsert and task. Businesses first, so their
        customers and invoices link to their row. Returns the new rows' ids."""
        recorded: list[int] = []
        total = sum(counts.values())
        if not total:
            return recorded
        progress = Progress(self.stdout, total, "recorded")
        for model in sorted(untracked, key=lambda m: m.thredfi_resource != "business"):
            content_type = ContentType.objects.get_for_model(model, for_concrete_model=False)
            # The hooks may read relations (business key, __str__); lines are not needed.
            query = (
                model.get_thredfi_queryset()
                .prefetch_related(None)
                .filter(pk__in=untracked[model].values("pk"))
                .order_by("pk")
            )
            batch: list = []
            for obj in query.iterator(chunk_size=CHUNK):
                batch.append(obj)
                if len(batch) >= CHUNK:
                    recorded += self._insert_states(model, content_type, batch, due_at)
                    progress.advance(len(batch))
                    batch = []
            if batch:
                recorded += self._insert_states(model, content_type, batch, due_at)
                progress.advance(len(batch))
        progress.finish()
        self.stdout.write(f"Recorded {len(recorded):,} object(s) that were not tracked yet.")
        return recorded

    def _insert_states(self, model, content_type, objects: list, due_at) -> list[int]:
        keys = [obj.get_thredfi_business_key() for obj in objects]
        wanted: dict[int, set[str]] = {}
        for key in filter(None, keys):
            wanted.setdefault(key[0], set()).add(str(key[1]))
        business_rows = {}
        for ct_id, object_ids in wanted.items():
            rows = SyncState.objects.filter(content_type_id=ct_id, object_id__in=object_ids)
            for object_id, pk in rows.values_list("object_id", "pk"):
                business_rows[(ct_id, object_id)] = pk
        # Only what differs per object is sent per row; the rest comes from one template.
        template = SyncState(
            content_type=content_type,
            resource=model.thredfi_resource,
            next_attempt_at=due_at,
            lane=SyncLane.BACKFILL,
        )
        rows = [
            (
                str(obj.pk),
                obj.get_thredfi_external_id(),
                obj.thredfi_id,
                changes.label_of(obj),
                business_rows.get((key[0], str(key[1]))) if key else None,
            )
            for obj, key in zip(objects, keys, strict=True)
        ]
        using = router.db_for_write(SyncState) or "default"
        with transaction.atomic(using=using):
            # A save that recorded one of them meanwhile wins (unique content type + id).
            insert_rows(
                template,
                ["object_id", "external_id", "remote_id", "label", "business_id"],
                rows,
                using=using,
                ignore_conflicts=True,
            )
            ids = (
                SyncState.objects.using(using)
                .filter(content_type=content_type, object_id__in=[row[0] for row in rows])
                .values_list("pk", flat=True)
            )
            return list(ids)

    def _chunks(self, qs: QuerySet) -> Iterator[list[int]]:
        """Primary keys in ascending chunks (keyset paging: stable while rows change)."""
        last = 0
        while True:
            ids = list(qs.filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)[:CHUNK])
            if not ids:
                return
            last = ids[-1]
            yield ids

    def _queue(self, selected: QuerySet, total: int, recorded: list[int], bulk: bool):
        queued = 0
        progress = Progress(self.stdout, total + len(recorded), "queued")
        if recorded:
            # New rows are pending already; in bulk mode also due (next_attempt_at = now).
            if not bulk:
                resync.request_sync(recorded, backfill=True)
            progress.advance(len(recorded))
        for ids in self._chunks(selected):
            queued += resync.request_sync(ids, enqueue_tasks=not bulk, backfill=True)
            progress.advance(len(ids))
        progress.finish()
        skipped = total - queued
        text = f"Queued {queued + len(recorded):,} object(s) for the Celery worker"
        if recorded:
            text += f" ({len(recorded):,} newly recorded)"
        if skipped:
            text += f"; {skipped:,} skipped (being pushed right now)"
        self.stdout.write(self.style.SUCCESS(text + "."))
        if bulk:
            self._kick_sweep()
        self.stdout.write("Follow progress with `manage.py thredfi_status`.")

    def _kick_sweep(self) -> None:
        options = {"queue": thredfi_settings.CELERY_QUEUE} if thredfi_settings.CELERY_QUEUE else {}
        try:
            sweep_pending.apply_async(retry=False, **options)
        except Exception as err:  # broker down: the rows are due; beat's sweep takes them later
            self.stdout.write(self.style.WARNING(f"Could not send the sweep task ({err})."))
        self.stdout.write(
            f"More than {DIRECT_LIMIT:,} objects: they are marked due and the sweep "
            "(sweep_pending, run by Celery beat or `manage.py thredfi_sweep`) hands them to the "
            "workers in batches."
        )

    def _now(self, selected: QuerySet, total: int, recorded: list[int], options) -> int:
        report = SyncReport(
            self, shown_in_full(total, full=options["full"], limit=options["limit"])
        )
        progress = Progress(self.stdout, total, "synced")
        recorded_chunks = [recorded[i : i + CHUNK] for i in range(0, len(recorded), CHUNK)]
        # This command reports every outcome itself: the engine's line per object is only
        # wanted with -v 2.
        quiet = options["verbosity"] < 2
        engine_log = logging.getLogger("thredfi_django")
        level = engine_log.level
        if quiet:
            engine_log.setLevel(logging.CRITICAL)
        try:
            for ids in [*recorded_chunks, *self._chunks(selected)]:
                # Due now (failed ones reset), without a task: we push them ourselves.
                resync.request_sync(ids, enqueue_tasks=False)
                states = SyncState.objects.select_related("business").in_bulk(ids)
                for state_id in ids:
                    result = sync_state(state_id, worker="thredfi_sync")
                    report.outcome(*self._describe(states.get(state_id), state_id), result)
                    progress.advance()
        finally:
            engine_log.setLevel(level)
        progress.finish()
        report.finish_now()
        return sum(n for key, n in report.counts.items() if key[1] in FAILED_OUTCOMES)

    def _limits(self, options) -> dict:
        if options["limit"] is not None and options["limit"] < 0:
            raise CommandError("--limit must be 0 or more.")
        return {"full": options["full"], "limit": options["limit"]}

    def _describe(self, state: SyncState | None, state_id: int) -> tuple[str, str, str]:
        """(what, model, business) of a row, for the report."""
        if state is None:
            return f"sync state {state_id} (deleted meanwhile)", "?", "?"
        model = state.content_type.model_class()
        label = model._meta.label if model else state.resource
        if state.business_id is None or state.business_id == state.pk:
            business = state.label if state.resource == "business" else "(none)"
        else:
            business = state.business.label or state.business.external_id
        return f"{state.resource} #{state.object_id} {state.label!r}", label, business

    def _dry_run(self, selected: QuerySet, total: int, untracked: dict, options) -> None:
        report = SyncReport(self, shown_in_full(total, **self._limits(options)))
        for ids in self._chunks(selected):
            states = SyncState.objects.select_related("business").in_bulk(ids)
            for state_id in ids:
                result = sync_state(state_id, dry_run=True)
                state = states[state_id]
                _what, model, business = self._describe(state, state_id)
                report.request(
                    f"{state.resource} {state.label!r}", model, business, result.request or {}
                )
        for model, qs in untracked.items():
            for obj in model.get_thredfi_queryset().filter(pk__in=qs.values("pk")).iterator(CHUNK):
                business = obj.get_thredfi_business() if obj.thredfi_resource != "business" else obj
                report.request(
                    f"{model._meta.label} {obj} (not tracked yet)",
                    model._meta.label,
                    str(business) if business is not None else "(none)",
                    preview(obj),
                )
        report.finish_dry_run()
