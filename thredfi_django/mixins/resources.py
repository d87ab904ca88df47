"""One mixin per Thredfi resource: AR (business, customer, invoice, payment, refund) and AP
(vendor, bill, bill payment), plus the line/allocation mixins that mark their parent dirty."""

from __future__ import annotations

from typing import Any, ClassVar

from django.core import checks
from django.core.exceptions import FieldDoesNotExist
from django.core.files import File
from django.db import models

from .. import payloads
from .base import ThredfiAllocatingMixin, ThredfiChildMixin, ThredfiSyncMixin

# -- AR ----------------------------------------------------------------------------------------


class ThredfiBusinessMixin(ThredfiSyncMixin):
    """A business (the host's account/company/tenant). Created with POST /businesses/,
    updated with PATCH. Required remote fields: legal_name, entity_type, email."""

    thredfi_resource = "business"
    thredfi_default_sources = {
        "legal_name": ("legal_name", "name"),
        "phone_number": ("phone_number", "phone"),
        "base_currency": ("base_currency", "currency"),
    }

    class Meta:
        abstract = True

    def get_thredfi_business(self) -> ThredfiBusinessMixin:
        """A business is its own business."""
        return self

    def get_thredfi_business_key(self) -> tuple[int, Any] | None:
        return None  # a business's own state has no parent business


class ThredfiArchivableMixin(ThredfiSyncMixin):
    """A record Thredfi archives and unarchives (customers, vendors). A host that hides rows
    instead of deleting them says which field marks a hidden one: the save that sets it archives
    the record in Thredfi, the save that clears it unarchives it."""

    #: Name of a boolean field that is True while the row is archived (soft-deleted) in your
    #: app, e.g. ``"is_archived"``. None: rows are never archived by a save, only by a delete.
    thredfi_archived_field: ClassVar[str | None] = None

    class Meta:
        abstract = True

    def is_thredfi_archived(self) -> bool:
        """Should the record be archived in Thredfi? Default: the ``thredfi_archived_field``
        field, else False. Override it for, say, a status field."""
        name = self.thredfi_archived_field
        return bool(getattr(self, name)) if name else False

    @classmethod
    def check(cls, **kwargs: Any) -> list[checks.CheckMessage]:
        """A misspelt ``thredfi_archived_field`` is found at startup, not on the first push."""
        errors = super().check(**kwargs)
        name = cls.thredfi_archived_field
        if name:
            try:
                cls._meta.get_field(name)
            except FieldDoesNotExist:
                errors.append(
                    checks.Error(
                        f"{cls.__name__}.thredfi_archived_field names {name!r}, which is not "
                        "a field of the model.",
                        hint="Name the boolean field that marks an archived row, or remove it.",
                        obj=cls,
                        id="thredfi_django.E030",
                    )
                )
        return errors


class ThredfiCustomerMixin(ThredfiArchivableMixin):
    """A customer of a business. Created once; Thredfi documents no update endpoint, so later
    changes are not sent (see engine/plan.py). Deleting archives it remotely, and so does a save
    that archives it (``thredfi_archived_field``); a save that restores it unarchives it."""

    thredfi_resource = "customer"
    thredfi_default_sources = {
        "individual_name": ("individual_name", "name", "full_name"),
        "mobile_phone": ("mobile_phone", "phone"),
        "notes": ("notes", "memo"),
    }

    class Meta:
        abstract = True


class ThredfiDocumentMixin(ThredfiSyncMixin):
    """An invoice or bill whose PDF is sent along as Thredfi's ``document`` (multipart): with
    the first push, and with an update only when the file changed. A file that is not a PDF, or
    is larger than THREDFI['DOCUMENT_MAX_BYTES'], is refused before any request."""

    #: Name of the FileField holding the PDF; None: no document (unless the hook says).
    thredfi_document_field: ClassVar[str | None] = None

    class Meta:
        abstract = True

    def get_thredfi_document(self) -> File[Any] | None:
        """The PDF to send (a Django ``File``, e.g. a ``FieldFile``), or None. Default: the
        field named by ``thredfi_document_field``, when it holds a file. Override to send a
        file from elsewhere. The bytes must stay the same until the document changes (a PDF
        rendered on each call differs by its creation date, and each is sent as a new copy)."""
        if not self.thredfi_document_field:
            return None
        file = getattr(self, self.thredfi_document_field)
        return file if file else None


class ThredfiInvoiceMixin(ThredfiDocumentMixin):
    """A sales invoice with line items (a related ThredfiInvoiceLineMixin model). Updated with
    PUT after the first push; deleting voids it."""

    thredfi_resource = "invoice"
    #: Related name of the line items.
    thredfi_lines_related_name: ClassVar[str] = "lines"
    thredfi_default_sources = {
        "invoice_number": ("invoice_number", "number"),
        "sent_at": ("sent_at", "issued_at", "issued_on", "issue_date", "date"),
        "due_at": ("due_at", "due_on", "due_date"),
        "memo": ("memo", "notes"),
        "currency": ("currency",),
    }

    class Meta:
        abstract = True


class ThredfiInvoiceLineMixin(ThredfiChildMixin):
    """One line of an invoice. Saving or deleting it marks the invoice dirty.

    Its ledger account: an ``account_code`` field, a ``get_thredfi_account_code()`` method or
    ``thredfi_field_map``, else THREDFI['ACCOUNT_CODES']['invoice'] (``ledger.py``); a code
    the business's chart lacks is refused before any request."""

    thredfi_parent_resource = "invoice"
    thredfi_default_sources = {
        "quantity": ("quantity", "qty"),
        "unit_price": ("unit_price", "price", "unit_amount"),
        "description": ("description", "name"),
    }

    class Meta:
        abstract = True


class ThredfiPaymentMixin(ThredfiAllocatingMixin):
    """A customer payment allocated to invoices (related allocation rows with ``invoice`` and
    ``amount``). Sent with an Idempotency-Key equal to its external_id."""

    thredfi_resource = "payment"
    thredfi_allocation_target = "invoice"
    thredfi_default_sources = {
        "total_amount_cents": ("total_amount", "amount"),
        "payment_date": ("payment_date", "paid_on", "date"),
        "payment_method": ("payment_method", "method"),
        "payment_reference": ("payment_reference", "reference"),
        "note": ("note", "notes", "memo"),
    }

    class Meta:
        abstract = True


class ThredfiPaymentAllocationMixin(ThredfiChildMixin):
    """The part of a payment applied to one invoice; saving it marks the payment dirty."""

    thredfi_parent_resource = "payment"
    thredfi_default_sources = {"amount_cents": ("amount_cents", "amount")}

    class Meta:
        abstract = True


class ThredfiRefundMixin(ThredfiSyncMixin):
    """A full or partial refund of one invoice (amount None = full)."""

    thredfi_resource = "refund"
    thredfi_default_sources = {
        "amount_cents": ("amount",),
        "completed_at": ("completed_at", "refunded_at", "date"),
        "reference_number": ("reference_number", "reference"),
        "method": ("method", "payment_method"),
    }

    class Meta:
        abstract = True


class ThredfiRefundPaymentMixin(ThredfiSyncMixin):
    """Money actually sent back for a refund (posted under the refund)."""

    thredfi_resource = "refund_payment"
    thredfi_default_sources = {
        "amount_cents": ("amount",),
        "completed_at": ("completed_at", "paid_at", "date"),
        "method": ("method", "payment_method"),
    }

    class Meta:
        abstract = True


class ThredfiWriteOffMixin(ThredfiSyncMixin):
    """A bad-debt write-off of part of an invoice (a foreign key named ``invoice``), sent to
    ``invoices/{id}/write-offs/``; ``destination_account`` from its ``account_code`` or
    THREDFI['ACCOUNT_CODES']['write_off'] when either is set. No update or delete exists."""

    thredfi_resource = "write_off"
    thredfi_default_sources = {
        "amount_cents": ("amount",),
        "write_off_at": ("write_off_at", "written_off_at", "date"),
        "memo": ("memo", "reason", "notes"),
    }

    class Meta:
        abstract = True


class ThredfiPayoutMixin(ThredfiSyncMixin):
    """A processor settlement (Stripe, Adyen...) listing the payments and refund payments it
    pays out. Thredfi upserts payouts on external_id, so a later save is sent again as a whole
    (until Thredfi has reconciled it to a bank transaction). Save the payout after changing
    which payments it holds: a many-to-many change alone is not a save."""

    thredfi_resource = "payout"
    #: Related names (many-to-many or reverse foreign key) of the payments and refund payments.
    thredfi_payments_related_name: ClassVar[str] = "payments"
    thredfi_refund_payments_related_name: ClassVar[str] = "refund_payments"
    thredfi_default_sources = {
        "paid_out_amount_cents": ("paid_out_amount", "amount"),
        "fee_cents": ("fee", "fee_amount"),
        "additional_refunds_amount_cents": ("additional_refunds_amount",),
        "completed_at": ("completed_at", "paid_out_at", "date"),
        "reference_number": ("reference_number", "reference"),
    }

    class Meta:
        abstract = True

    @classmethod
    def get_thredfi_queryset(cls) -> models.QuerySet[Any]:
        """The payouts with their payments and refund payments, one query each."""
        qs = super().get_thredfi_queryset()
        if cls.thredfi_prefetch is not None:
            return qs
        names = (cls.thredfi_payments_related_name, cls.thredfi_refund_payments_related_name)
        return qs.prefetch_related(*(n for n in names if hasattr(cls, n)))

    def get_thredfi_dependencies(self) -> list[ThredfiSyncMixin]:
        """Every payment and refund payment the payout lists."""
        deps = super().get_thredfi_dependencies()
        for name in (self.thredfi_payments_related_name, self.thredfi_refund_payments_related_name):
            for item in payloads.related_rows(self, name):
                if item not in deps:
                    deps.append(item)
        return deps


# -- AP ----------------------------------------------------------------------------------------


class ThredfiVendorMixin(ThredfiArchivableMixin):
    """A vendor (supplier). Created once; deleting archives it remotely, and saves archive or
    unarchive it as a customer's do (``thredfi_archived_field``)."""

    thredfi_resource = "vendor"
    thredfi_default_sources = {
        "individual_name": ("individual_name", "name"),
        "mobile_phone": ("mobile_phone", "phone"),
        "memo": ("memo", "notes"),
    }

    class Meta:
        abstract = True


class ThredfiBillMixin(ThredfiDocumentMixin):
    """A purchase bill with line items (a related ThredfiBillLineMixin model). Updated with PUT
    (which replaces all lines)."""

    thredfi_resource = "bill"
    thredfi_lines_related_name: ClassVar[str] = "lines"
    thredfi_default_sources = {
        "bill_number": ("bill_number", "number"),
        "bill_date": ("bill_date", "issued_on", "date"),
        "due_at": ("due_at", "due_on", "due_date"),
        "memo": ("memo", "notes"),
    }

    class Meta:
        abstract = True


class ThredfiBillLineMixin(ThredfiChildMixin):
    """One line of a bill. Saving or deleting it marks the bill dirty. Its ledger account as
    for invoice lines, defaulting to THREDFI['ACCOUNT_CODES']['bill']."""

    thredfi_parent_resource = "bill"
    thredfi_default_sources = ThredfiInvoiceLineMixin.thredfi_default_sources

    class Meta:
        abstract = True


class ThredfiBillPaymentMixin(ThredfiAllocatingMixin):
    """A payment to a vendor allocated to bills (related rows with ``bill`` and ``amount``)."""

    thredfi_resource = "bill_payment"
    thredfi_allocation_target = "bill"
    thredfi_default_sources = {
        "amount_cents": ("amount",),
        "payment_date": ("payment_date", "paid_on", "date"),
        "payment_method": ("payment_method", "method"),
        "payment_reference": ("payment_reference", "reference"),
    }

    class Meta:
        abstract = True


class ThredfiVendorRefundMixin(ThredfiAllocatingMixin):
    """Money a vendor pays back (an overpayment, a billing error, returned goods), allocated to
    bills (related rows with ``bill`` and ``amount``). Thredfi's PATCH cannot change its
    amount or allocations, so a change after the first push needs attention."""

    thredfi_resource = "vendor_refund"
    thredfi_allocation_target = "bill"
    thredfi_default_sources = {
        "total_refunded_amount_cents": ("total_refunded_amount", "amount"),
        "refund_date": ("refund_date", "refunded_on", "date"),
        "reference_number": ("reference_number", "reference"),
    }

    class Meta:
        abstract = True


class ThredfiVendorRefundAllocationMixin(ThredfiChildMixin):
    """The part of a vendor refund allocated to one bill; saving it marks the refund dirty."""

    thredfi_parent_resource = "vendor_refund"
    thredfi_default_sources = {"amount_cents": ("amount_cents", "amount")}

    class Meta:
        abstract = True


class ThredfiBillPaymentAllocationMixin(ThredfiChildMixin):
    """The part of a bill payment applied to one bill; saving it marks the payment dirty."""

    thredfi_parent_resource = "bill_payment"
    thredfi_default_sources = {"amount_cents": ("amount_cents", "amount")}

    class Meta:
        abstract = True
