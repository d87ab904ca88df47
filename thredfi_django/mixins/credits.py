"""Credit notes: a customer credit (against invoices) and a vendor credit (against bills), each
with lines and allocations. Thredfi has no update or delete for them: a change after the first
push needs attention. Bodies and checks: ``thredfi_django.credit_notes``."""

from __future__ import annotations

from typing import Any, ClassVar

from .. import credit_notes
from .base import ThredfiAllocatingMixin, ThredfiChildMixin


class _CreditNoteMixin(ThredfiAllocatingMixin):
    """What the two credit notes share: lines, allocations and their own body and checks."""

    #: Related name of the lines.
    thredfi_lines_related_name: ClassVar[str] = "lines"

    class Meta:
        abstract = True

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
