"""Credit notes: a customer credit (against invoices) and a vendor credit (against bills), each
with lines and allocations. Thredfi has no update or delete for them: a change after the first
push needs attention. Bodies and checks: ``thredfi_django.credit_notes``."""

from __future__ import annotations

from typing import Any, ClassVar

from django.db import models

from .. import credit_notes, payloads
from .base import ThredfiChildMixin, ThredfiSyncMixin


class _CreditNoteMixin(ThredfiSyncMixin):
    #: Related names of the lines and the allocations.
    thredfi_lines_related_name: ClassVar[str] = "lines"
    thredfi_allocations_related_name: ClassVar[str] = "allocations"
    #: "invoice" or "bill": what the allocations point at.
    thredfi_allocation_target: ClassVar[str] = ""

    class Meta:
        abstract = True

    @classmethod
    def get_thredfi_queryset(cls) -> models.QuerySet[Any]:
        """The credit notes with their lines and allocations (and what those point at)."""
        related = [f.name for f in cls._thredfi_related_fields()]
        qs = cls._default_manager.select_related(*related)
        if cls.thredfi_prefetch is not None:
            return qs.prefetch_related(*cls.thredfi_prefetch)
        allocations = f"{cls.thredfi_allocations_related_name}__{cls.thredfi_allocation_target}"
        return qs.prefetch_related(cls.thredfi_lines_related_name, allocations)

    def get_thredfi_dependencies(self) -> list[ThredfiSyncMixin]:
        """The customer or vendor, the source document, and every allocated document."""
        deps = super().get_thredfi_dependencies()
        for allocation in payloads.related_rows(self, self.thredfi_allocations_related_name):
            target = getattr(allocation, self.thredfi_allocation_target, None)
            if target is not None and target not in deps:
                deps.append(target)
        return deps

    def get_thredfi_payload(self) -> dict[str, Any]:
        """Lines with ``amount`` and the account identifier, allocations with ``amount``."""
        return credit_notes.build_payload(self)

    def validate_for_thredfi(self) -> None:
        """Lines, accounts and allocations, checked before any request."""
        credit_notes.validate(self)


class ThredfiCustomerCreditMixin(_CreditNoteMixin):
    """A credit note for a customer; an optional foreign key to an invoice is sent as its
    ``source_invoice_id``. Allocations apply it to invoices."""

    thredfi_resource = "customer_credit"
    thredfi_allocation_target = "invoice"
    thredfi_default_sources = {"sent_at": ("sent_at", "issued_at", "issued_on", "date")}

    class Meta:
        abstract = True


class ThredfiVendorCreditMixin(_CreditNoteMixin):
    """A credit note from a vendor; an optional foreign key to a bill is sent as its
    ``source_bill_id``. Allocations apply it to bills."""

    thredfi_resource = "vendor_credit"
    thredfi_allocation_target = "bill"
    thredfi_default_sources = {"received_at": ("received_at", "received_on", "date")}

    class Meta:
        abstract = True


_LINE_SOURCES = {
    "amount": ("amount",),
    "tax_amount_cents": ("tax_amount",),
    "memo": ("memo", "description"),
}


class ThredfiCustomerCreditLineMixin(ThredfiChildMixin):
    """One line of a customer credit: ``amount``, optional ``tax_amount``, ``memo`` and
    ``account_code`` (else THREDFI['ACCOUNT_CODES']['customer_credit'])."""

    thredfi_parent_resource = "customer_credit"
    thredfi_default_sources = _LINE_SOURCES

    class Meta:
        abstract = True


class ThredfiVendorCreditLineMixin(ThredfiChildMixin):
    """One line of a vendor credit: ``amount``, ``memo`` and ``account_code``."""

    thredfi_parent_resource = "vendor_credit"
    thredfi_default_sources = _LINE_SOURCES

    class Meta:
        abstract = True


class ThredfiCustomerCreditAllocationMixin(ThredfiChildMixin):
    """The part of a customer credit applied to one invoice (``invoice``, ``amount``)."""

    thredfi_parent_resource = "customer_credit"
    thredfi_default_sources = {"amount_cents": ("amount_cents", "amount")}

    class Meta:
        abstract = True


class ThredfiVendorCreditAllocationMixin(ThredfiChildMixin):
    """The part of a vendor credit applied to one bill (``bill``, ``amount``)."""

    thredfi_parent_resource = "vendor_credit"
    thredfi_default_sources = {"amount_cents": ("amount_cents", "amount")}

    class Meta:
        abstract = True
