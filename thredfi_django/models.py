"""The sync-state row: one per synced host object, plus its attempt history.

The host project's own models carry the Thredfi ID (see ``mixins``); this table carries
everything about getting them there: ``recording`` writes it in the host's transaction, the
``engine`` claims and updates it in a worker. See docs/architecture.md.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models, router
from django.db.models import F
from django.db.models.functions import Coalesce, Upper
from django.utils.translation import gettext_lazy as _


def state_db_for(model: type[models.Model]) -> str:
    """The database the sync-state rows of ``model``'s objects live in."""
    return router.db_for_write(SyncState) or router.db_for_write(model) or "default"


def host_model(content_type_id: int | None) -> type[models.Model] | None:
    """The host model of a sync-state row (None: no longer installed)."""
    if content_type_id is None:
        return None
    return ContentType.objects.get_for_id(content_type_id).model_class()


class SyncStateQuerySet(models.QuerySet):
    def for_object(self, instance: models.Model) -> SyncState | None:
        """The row of a host object as recorded, or None. Reads only: a save the engine has not
        taken in yet (a marked host row) is not counted here; ``engine.absorb.state_for`` does."""
        if instance.pk is None:
            return None
        content_type = ContentType.objects.get_for_model(instance)
        return self.filter(content_type=content_type, object_id=str(instance.pk)).first()

    def search(self, term: str) -> SyncStateQuerySet:
        """Rows whose external id, host object id or (a UUID) Thredfi id is ``term`` exactly, or
        whose label starts with it in any case. Each is an index lookup; a substring search
        would read the whole table."""
        term = term.strip()
        if not term:
            return self
        found = models.Q(external_id=term) | models.Q(object_id=term)
        found |= models.Q(label__istartswith=term)
        try:
            parsed = uuid.UUID(term)
        except ValueError:
            pass  # not a UUID, so no Thredfi id
        else:
            # A host object with a UUID key is stored in its canonical form.
            found |= models.Q(remote_id=parsed) | models.Q(object_id=str(parsed))
        return self.filter(found)


class SyncStatus(models.TextChoices):
    """Where an object stands. ``pending`` includes "waiting for its next retry"."""

    PENDING = "pending", _("Pending")
    IN_PROGRESS = "in_progress", _("In progress")
    SYNCED = "synced", _("Synced")
    #: Waiting on a dependency (``blocked_on``) that is not synced yet or failed.
    BLOCKED = "blocked", _("Blocked")
    #: Transient failures exhausted MAX_ATTEMPTS; a retry may still succeed later.
    FAILED = "failed", _("Failed")
    #: A permanent error (validation, permission, not found, cannot be synced): a person must
    #: change something; a new save of the object or an explicit retry puts it back to pending.
    NEEDS_ATTENTION = "needs_attention", _("Needs attention")
    #: A person decided to leave it as it is ("mark resolved"); nothing is retried.
    RESOLVED = "resolved", _("Resolved")


class PrefixIndex(models.Index):
    """An index on one expression that PostgreSQL answers ``LIKE 'prefix%'`` from whatever the
    database's collation (``text_pattern_ops``); a plain expression index elsewhere, where an
    operator class is a syntax error (as ``django.contrib.postgres``'s ``OpClass`` writes it)."""

    def create_sql(self, model: Any, schema_editor: Any, using: str = "", **kwargs: Any) -> Any:
        statement = super().create_sql(model, schema_editor, using=using, **kwargs)
        if schema_editor.connection.vendor == "postgresql":
            statement.parts["columns"] = f"{statement.parts['columns']} text_pattern_ops"
        return statement


#: Rows a worker may have to push (partial-index condition).
WORK_TO_DO = models.Q(status__in=[SyncStatus.PENDING, SyncStatus.IN_PROGRESS])
#: Rows not (yet) synced: the ones the dashboard counts exactly however large the table.
NOT_SYNCED = ~models.Q(status=SyncStatus.SYNCED)
#: The business a row belongs to: its ``business``, or the row itself (a business's own row,
#: or a row whose business is not known yet). Claims take turns over these.
OWNER = Coalesce("business", "id", output_field=models.BigIntegerField())


class SyncLane(models.IntegerChoices):
    """Which work goes first: what people just saved, before bulk re-syncs."""

    LIVE = 0, _("Live (a save, a person's request)")
    BACKFILL = 1, _("Backfill (bulk re-sync)")


class SyncOperation(models.TextChoices):
    """What the pending work is: push the latest state, or remove the record remotely."""

    UPSERT = "upsert", _("Create or update")
    DELETE = "delete", _("Delete (void or archive)")


class SyncState(models.Model):
    """One per synced host object: status, version, lease, remote id and last error."""

    content_type = models.ForeignKey(ContentType, on_delete=models.CASCADE, related_name="+")
    object_id = models.CharField(max_length=64)
    content_object = GenericForeignKey("content_type", "object_id")

    #: Thredfi resource name: business, customer, invoice, payment, refund, ...
    resource = models.CharField(max_length=32, db_index=True)
    #: The sync state of the business this object belongs to (itself for a business).
    business = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="business_objects"
    )
    external_id = models.CharField(max_length=255, db_index=True)
    remote_id = models.UUIDField(null=True, blank=True, db_index=True)

    status = models.CharField(
        max_length=20, choices=SyncStatus.choices, default=SyncStatus.PENDING, db_index=True
    )
    operation = models.CharField(
        max_length=10, choices=SyncOperation.choices, default=SyncOperation.UPSERT
    )
    #: Claimed first: live work (a save) before backfill (thredfi_sync, reconcile --fix).
    lane = models.PositiveSmallIntegerField(
        choices=SyncLane.choices, default=SyncLane.LIVE, db_default=SyncLane.LIVE
    )
    #: Bumped by every save of the object; a push that read version N marks synced_version = N.
    version = models.PositiveBigIntegerField(default=1)
    synced_version = models.PositiveBigIntegerField(default=0)

    attempts = models.PositiveIntegerField(default=0, help_text=_("Attempts since last success."))
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    lease_owner = models.CharField(max_length=100, blank=True)
    blocked_on = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="blocking"
    )

    last_error_kind = models.CharField(max_length=32, blank=True)
    last_error_status = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error_code = models.CharField(max_length=100, blank=True)
    last_error_message = models.TextField(blank=True)
    last_error_fields = models.JSONField(default=dict, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)

    #: Synced, yet Thredfi may hold older data: the object changed after its first push and
    #: Thredfi has no update endpoint for it (customers, vendors). Shown next to "synced" in the
    #: admin, thredfi_status and thredfi_reconcile (which compares the details and can clear it).
    #: NULL reads as False: the outbox inserts rows with raw SQL that leaves the column unset.
    remote_stale = models.BooleanField(
        _("outdated in Thredfi"),
        null=True,
        default=False,
        help_text=_("Changed after its first push; Thredfi has no update for it."),
    )

    #: What Thredfi says of the record, read back by ``engine.pull`` (Thredfi has no webhooks,
    #: so a payment recorded in Thredfi shows here only after a pull). Empty until first read;
    #: a database default because recording inserts rows with raw SQL that leaves it unset.
    remote_status = models.CharField(
        _("status in Thredfi"), max_length=32, blank=True, default="", db_default=""
    )
    #: Cents still owed (invoices, bills) or left to apply (credits); what was paid or applied.
    remote_amount_due_cents = models.BigIntegerField(null=True, blank=True)
    remote_amount_paid_cents = models.BigIntegerField(null=True, blank=True)
    #: The record's own ``updated_at`` in Thredfi, and when a pull last found it.
    remote_updated_at = models.DateTimeField(null=True, blank=True)
    remote_checked_at = models.DateTimeField(null=True, blank=True)

    #: SHA-256 of the last document (PDF) Thredfi accepted for the record: an update sends the
    #: file again only when it differs. Empty: none sent. A database default for the same
    #: reason as remote_status.
    document_digest = models.CharField(
        _("document sent"), max_length=64, blank=True, default="", db_default=""
    )

    #: Human label of the host object at its last save (for the admin, survives deletion).
    label = models.CharField(max_length=200, blank=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    objects = SyncStateQuerySet.as_manager()

    class Meta:
        verbose_name = _("Thredfi sync state")
        verbose_name_plural = _("Thredfi sync states")
        constraints = [
            models.UniqueConstraint(
                fields=["content_type", "object_id"], name="thredfi_syncstate_unique_object"
            )
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="thredfi_due_idx"),
            # Partial indexes hold only the rows that still need something (a few per cent of a
            # large table), so claims, the sweep and the counts of what is left to do read
            # those rows and never the synced bulk (benchmarks/million_rows.py).
            models.Index(fields=["lane", "id"], condition=WORK_TO_DO, name="thredfi_claim_idx"),
            # Claims take turns over businesses: the businesses with work in a lane, and each
            # one's oldest rows, each read straight from this index (engine/leases.py).
            models.Index(
                F("lane"), OWNER, F("id"), condition=WORK_TO_DO, name="thredfi_claim_owner_idx"
            ),
            models.Index(
                fields=["next_attempt_at", "id"], condition=WORK_TO_DO, name="thredfi_sweep_idx"
            ),
            models.Index(
                fields=["content_type", "status"], condition=NOT_SYNCED, name="thredfi_unsynced_idx"
            ),
            models.Index(
                fields=["content_type"],
                condition=models.Q(remote_stale=True),
                name="thredfi_stale_idx",
            ),
            # The outbox changelist's order.
            models.Index(fields=["updated_at", "id"], name="thredfi_recent_idx"),
            # The outbox search (SyncStateQuerySet.search): a host object id, the start of a label.
            models.Index(fields=["object_id"], name="thredfi_object_id_idx"),
            PrefixIndex(Upper("label"), name="thredfi_label_prefix_idx"),
        ]
        permissions = [("sync_objects", "Can trigger Thredfi syncs and retries")]

    def __str__(self) -> str:
        return f"{self.resource} {self.label or self.object_id} ({self.status})"

    @property
    def is_dirty(self) -> bool:
        """True while a save has not been pushed yet."""
        return self.synced_version < self.version


class SyncAttempt(models.Model):
    """One push of one object: when, what happened, and the server's answer (redacted)."""

    class Outcome(models.TextChoices):
        SUCCESS = "success", _("Success")
        TRANSIENT_ERROR = "transient_error", _("Transient error")
        PERMANENT_ERROR = "permanent_error", _("Permanent error")
        BLOCKED = "blocked", _("Blocked")
        SKIPPED = "skipped", _("Skipped")

    state = models.ForeignKey(SyncState, on_delete=models.CASCADE, related_name="attempt_history")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    operation = models.CharField(max_length=20, blank=True)  # create / update / void / archive
    version = models.PositiveBigIntegerField(default=0)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    error_kind = models.CharField(max_length=32, blank=True)
    error_code = models.CharField(max_length=100, blank=True)
    message = models.TextField(blank=True)
    field_errors = models.JSONField(default=dict, blank=True)
    worker = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        verbose_name = _("Thredfi sync attempt")
        verbose_name_plural = _("Thredfi sync attempts")
        indexes = [models.Index(fields=["outcome", "started_at"], name="thredfi_attempt_idx")]

    def __str__(self) -> str:
        return f"{self.state_id} {self.operation} {self.outcome} @ {self.started_at:%Y-%m-%d %H:%M}"


class SyncDashboard(SyncState):
    """No table of its own: the admin's "Sync dashboard" entry (``admin/dashboard.py``).

    A proxy so the dashboard is listed under "Thredfi" on the admin index without the host
    overriding ``admin/index.html``. It has no permissions of its own: viewing it needs
    ``view_syncstate``.
    """

    class Meta:
        proxy = True
        default_permissions = ()
        verbose_name = _("Sync dashboard")
        verbose_name_plural = _("Sync dashboard")
