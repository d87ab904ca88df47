"""The base classes of every mixin: field resolution, transactions, and the default hooks.

See ``thredfi_django.mixins`` for how to use them.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, ClassVar, cast

from django.db import models, router, transaction
from django.utils.translation import gettext_lazy as _

from .. import payloads, validation
from ..conf import thredfi_settings

if TYPE_CHECKING:
    from .resources import ThredfiBusinessMixin

_MISSING = object()


class ThredfiFieldsBase(models.Model):
    """The common base of synced objects and their lines: resolves a remote field name to a
    value on the host object, and saves/deletes inside a transaction.

    An abstract model with no fields (not a plain mixin class) so that it never appears in the
    ``bases`` of your migrations.
    """

    #: Remote field -> attribute path on this model (dotted paths follow relations), e.g.
    #: ``{"invoice_number": "number", "memo": "notes"}``. Merged over the resource defaults.
    thredfi_field_map: ClassVar[dict[str, str]] = {}
    #: Defaults tried in order when neither a hook nor thredfi_field_map names the attribute.
    thredfi_default_sources: ClassVar[dict[str, tuple[str, ...]]] = {}
    #: Per class, filled on first use: remote field -> the attribute path that supplies it.
    _thredfi_source_cache: ClassVar[dict[str, str | None]]

    class Meta:
        abstract = True

    # -- transactions ----------------------------------------------------------------------
    # A line's save marks its parent (an UPDATE of the parent row), and a delete writes the
    # outbox row, from a receiver that in autocommit mode would run after the host statement
    # had already committed: so those run inside a transaction. A synced object's own save
    # needs none: its change marker is a column of the row it writes (ThredfiSyncMixin.save).

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Save inside a transaction so the parent's marker commits (or rolls back) with it."""
        using = kwargs.get("using") or router.db_for_write(type(self), instance=self)
        with transaction.atomic(using=using, savepoint=False):
            super().save(*args, **kwargs)

    save.alters_data = True  # type: ignore[attr-defined]

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        """Delete inside a transaction so the void/archive (or the parent's re-push) is
        recorded atomically with the deletion."""
        using = kwargs.get("using") or router.db_for_write(type(self), instance=self)
        with transaction.atomic(using=using, savepoint=False):
            return super().delete(*args, **kwargs)

    delete.alters_data = True  # type: ignore[attr-defined]

    @classmethod
    def _thredfi_source(cls, remote_field: str) -> str | None:
        cache: dict[str, str | None] | None = cls.__dict__.get("_thredfi_source_cache")
        if cache is None:
            cache = {}
            cls._thredfi_source_cache = cache
        if remote_field not in cache:
            source = cls.thredfi_field_map.get(remote_field)
            if source is None:
                names = {f.name for f in cls._meta.get_fields()} | set(dir(cls))
                candidates = cls.thredfi_default_sources.get(remote_field, (remote_field,))
                source = next((c for c in candidates if c in names), None)
            cache[remote_field] = source
        return cache[remote_field]

    def get_thredfi_value(self, remote_field: str, default: Any = None) -> Any:
        """The host value for ``remote_field``: ``get_thredfi_<field>()`` if defined, else the
        attribute named by ``thredfi_field_map`` / the defaults, else ``default``."""
        hook = getattr(self, f"get_thredfi_{remote_field}", None)
        if hook is not None:
            return hook()
        source = self._thredfi_source(remote_field)
        if source is None:
            return default
        value: Any = self
        for part in source.split("."):
            value = getattr(value, part, _MISSING)
            if value is _MISSING or value is None:
                return default if value is _MISSING else None
        return value() if callable(value) and not isinstance(value, models.Model) else value


def new_dirty_token() -> int:
    """A random positive 63-bit number (fits a signed BIGINT): the value of a change marker."""
    return int.from_bytes(os.urandom(8), "big") >> 1


class ThredfiSyncMixin(ThredfiFieldsBase):
    """Base of every synced model. Do not use directly; pick a resource mixin below."""

    thredfi_id = models.UUIDField(
        _("Thredfi ID"), null=True, blank=True, db_index=True, editable=False
    )
    #: The change marker: a random token set by every tracked save, in the same
    #: statement as the save, and cleared (compare-and-set on the token) once the engine has
    #: taken the change into its sync-state row (``engine.absorb``). Not null: the row changed
    #: since the engine last took it in.
    thredfi_dirty = models.BigIntegerField(null=True, blank=True, editable=False, db_index=True)

    #: Thredfi resource name (business, customer, invoice, payment, ...).
    thredfi_resource: ClassVar[str] = ""
    #: Name of the foreign key to the business model; found automatically when None.
    thredfi_business_field: ClassVar[str | None] = None
    #: Saves that touch only these fields are not recorded (``save(update_fields=[...])``).
    thredfi_untracked_fields: ClassVar[tuple[str, ...]] = ("thredfi_id",)
    #: Related names prefetched when the engine loads the object. None: the line items and the
    #: allocations (with their invoice/bill) that the resource mixin names.
    thredfi_prefetch: ClassVar[tuple[str, ...] | None] = None
    #: A save after the first push of a resource Thredfi cannot update (customer, vendor,
    #: payment, refund): "skip" (synced, logged) or "attention" (needs attention). None: the
    #: default, skip for customers/vendors, attention for money movements (see operations.py).
    thredfi_on_unsupported_update: ClassVar[str | None] = None
    #: Per class, filled on first use: the foreign keys to other synced models.
    _thredfi_related_cache: ClassVar[list[models.ForeignKey[Any, Any]]]

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Save with a fresh change marker in the row itself: one statement, as without the
        app, and atomic by construction (no transaction needed). The post_save receiver only
        asks for a drain after commit; the drain moves the marker into the outbox."""
        if args:
            # save(force_insert, force_update, using, update_fields), as Django before 6.0
            # still takes them: name them, or positional update_fields would leave the
            # marker out of the UPDATE and the change would never be pushed.
            names = ("force_insert", "force_update", "using", "update_fields")[: len(args)]
            if len(args) > 4 or set(names) & set(kwargs):
                raise TypeError(
                    f"{type(self).__name__}.save() takes force_insert, force_update, using and "
                    "update_fields, each once; pass them by name."
                )
            kwargs.update(zip(names, args, strict=True))
            args = ()
        update_fields = kwargs.get("update_fields")
        if update_fields is None:
            self.thredfi_dirty = new_dirty_token()
        elif not set(update_fields) <= set(self.thredfi_untracked_fields):
            self.thredfi_dirty = new_dirty_token()
            kwargs["update_fields"] = [*update_fields, "thredfi_dirty"]
        # Past ThredfiFieldsBase.save: no transaction, the marker is in the row.
        super(ThredfiFieldsBase, self).save(*args, **kwargs)

    save.alters_data = True  # type: ignore[attr-defined]

    # -- hooks -----------------------------------------------------------------------------

    @classmethod
    def get_thredfi_queryset(cls) -> models.QuerySet[Any]:
        """How the engine loads objects of this model: related rows it needs in one query each
        (business, customer, lines…). Override to add your own select/prefetch_related."""
        related = [f.name for f in cls._thredfi_related_fields()]
        qs = cls._default_manager.select_related(*related)
        prefetch: list[str] | tuple[str, ...] | None = cls.thredfi_prefetch
        if prefetch is None:
            prefetch = []
            lines = getattr(cls, "thredfi_lines_related_name", None)
            if lines:
                prefetch.append(lines)
            allocations = getattr(cls, "thredfi_allocations_related_name", None)
            if allocations:
                target = getattr(cls, "thredfi_allocation_target", "")
                prefetch.append(f"{allocations}__{target}")
        return qs.prefetch_related(*prefetch) if prefetch else qs

    @classmethod
    def _thredfi_related_fields(cls) -> list[models.ForeignKey[Any, Any]]:
        cached = cls.__dict__.get("_thredfi_related_cache")
        if cached is None:
            cached = [
                cast("models.ForeignKey[Any, Any]", f)
                for f in cls._meta.concrete_fields
                if f.is_relation
                and f.many_to_one
                and isinstance(f.related_model, type)
                and issubclass(f.related_model, ThredfiSyncMixin)
            ]
            cls._thredfi_related_cache = cached
        return cached

    @classmethod
    def _thredfi_fk_to(cls, resource: str) -> models.ForeignKey[Any, Any] | None:
        for field in cls._thredfi_related_fields():
            if synced_model(field).thredfi_resource == resource:
                return field
        return None

    @classmethod
    def _thredfi_business_fk(cls) -> models.ForeignKey[Any, Any] | None:
        if cls.thredfi_business_field:
            return cast(
                "models.ForeignKey[Any, Any]", cls._meta.get_field(cls.thredfi_business_field)
            )
        return cls._thredfi_fk_to("business")

    def get_thredfi_business(self) -> ThredfiBusinessMixin | None:
        """The business (a ThredfiBusinessMixin object) this object belongs to.

        Default: the foreign key to your business model, else the business of the first
        dependency (e.g. a refund payment's refund). Return None if it has none (an error)."""
        fk = self._thredfi_business_fk()
        if fk is not None:
            return cast("ThredfiBusinessMixin | None", getattr(self, fk.name))
        for dependency in self.get_thredfi_dependencies():
            business = dependency.get_thredfi_business()
            if business is not None:
                return business
        return None

    def get_thredfi_business_key(self) -> tuple[int, Any] | None:
        """(content type id, pk) of the business, read without a query (for the outbox)."""
        fk = self._thredfi_business_fk()
        if fk is None:
            return None
        pk = getattr(self, fk.attname)
        if pk is None:
            return None
        from django.contrib.contenttypes.models import ContentType

        return ContentType.objects.get_for_model(fk.related_model).pk, pk

    def get_thredfi_dependencies(self) -> list[ThredfiSyncMixin]:
        """Objects that must exist in Thredfi before this one (besides the business).

        Default: every foreign key to another synced model (customer, invoice, vendor, …),
        (allocation targets: ``ThredfiAllocatingMixin``). The engine syncs them first."""
        deps: list[ThredfiSyncMixin] = []
        for field in self._thredfi_related_fields():
            if synced_model(field).thredfi_resource == "business":
                continue
            related = getattr(self, field.name)
            if related is not None:
                deps.append(related)
        return deps

    def get_thredfi_external_id(self) -> str:
        """The stable external_id Thredfi deduplicates on.

        Default ``"{EXTERNAL_ID_PREFIX}:{EXTERNAL_ID_NAMESPACE}:{app_label}.{model}:{pk}"``, so
        two platforms or environments sharing one partner account never collide. Never change
        it for an object that was already pushed."""
        return (
            f"{thredfi_settings.EXTERNAL_ID_PREFIX}:{thredfi_settings.EXTERNAL_ID_NAMESPACE}:"
            f"{self._meta.label_lower}:{self.pk}"
        )

    def get_thredfi_payload(self) -> dict[str, Any]:
        """The JSON body for the create request (external_id included).

        Default: the resource's documented fields read via :meth:`get_thredfi_value`; money
        in integer cents, dates as ISO strings, related objects as their ``thredfi_id``."""
        return payloads.build_payload(self)

    def get_thredfi_update_payload(self) -> dict[str, Any]:
        """The body for an update (PUT/PATCH) after the first push. Default: the create payload
        without the fields the update endpoint does not accept."""
        return payloads.build_update_payload(self)

    def validate_for_thredfi(self) -> None:
        """Check locally that this object can become a valid Thredfi record.

        Raises ThredfiLocalValidationError with ``field_errors`` ({field: [message]}) naming
        what to fix; the engine then sends nothing. Extend it with ``super()``."""
        validation.validate(self)

    def get_thredfi_label(self) -> str:
        """Short human label stored on the sync state (survives deletion)."""
        return str(self)


class ThredfiAllocatingMixin(ThredfiSyncMixin):
    """A document applied to invoices or bills through allocation rows (a payment, a vendor
    refund, a credit note). Each allocated document must be in Thredfi before it, so it is a
    dependency, and it is prefetched with the allocations."""

    #: Related name of the allocation rows.
    thredfi_allocations_related_name: ClassVar[str] = "allocations"
    #: "invoice" or "bill": the foreign key on each allocation row to what it applies to.
    thredfi_allocation_target: ClassVar[str] = ""

    class Meta:
        abstract = True

    def get_thredfi_dependencies(self) -> list[ThredfiSyncMixin]:
        """The foreign keys' objects and every invoice or bill the allocations name."""
        deps = super().get_thredfi_dependencies()
        for allocation in payloads.related_rows(self, self.thredfi_allocations_related_name):
            target = getattr(allocation, self.thredfi_allocation_target, None)
            if target is not None and target not in deps:
                deps.append(target)
        return deps


class ThredfiChildMixin(ThredfiFieldsBase):
    """A row that is part of another synced object (invoice line, payment allocation).

    Saving or deleting it marks the parent dirty, so the parent is pushed with its new lines.
    ``thredfi_parent_field`` names the foreign key to the parent (found automatically if None).
    """

    thredfi_parent_field: ClassVar[str | None] = None
    thredfi_parent_resource: ClassVar[str] = ""

    class Meta:
        abstract = True

    @classmethod
    def get_thredfi_parent_field(cls) -> models.ForeignKey[Any, Any]:
        """The foreign key to the parent object."""
        if cls.thredfi_parent_field:
            return cast(
                "models.ForeignKey[Any, Any]", cls._meta.get_field(cls.thredfi_parent_field)
            )
        for field in cls._meta.concrete_fields:
            model = field.related_model if field.is_relation else None
            if (
                isinstance(model, type)
                and issubclass(model, ThredfiSyncMixin)
                and (model.thredfi_resource == cls.thredfi_parent_resource)
            ):
                return cast("models.ForeignKey[Any, Any]", field)
        raise TypeError(
            f"{cls.__name__} needs a ForeignKey to a {cls.thredfi_parent_resource} model, or "
            "thredfi_parent_field = '<name of the foreign key>'."
        )


def synced_model(field: models.ForeignKey[Any, Any]) -> type[ThredfiSyncMixin]:
    """The model a foreign key from ``_thredfi_related_fields`` points at (a synced model)."""
    return cast("type[ThredfiSyncMixin]", field.related_model)
