"""Model mixins: add one to a host model and its saves are pushed to Thredfi.

    class Invoice(ThredfiInvoiceMixin, models.Model):
        account = models.ForeignKey(Account, ...)      # found as the business automatically
        customer = models.ForeignKey(Customer, ...)    # found as the customer automatically
        number = models.CharField(...)                 # sent as invoice_number
        thredfi_field_map = {"memo": "notes"}          # remote field -> your attribute

Every mixin adds ``thredfi_id`` (the remote UUID, filled in by the engine) and hooks that
subclasses may override: :meth:`~ThredfiSyncMixin.get_thredfi_business`,
:meth:`~ThredfiSyncMixin.get_thredfi_payload`, :meth:`~ThredfiSyncMixin.get_thredfi_dependencies`,
:meth:`~ThredfiSyncMixin.get_thredfi_external_id`, :meth:`~ThredfiSyncMixin.validate_for_thredfi`.
A single remote field can be overridden with a method ``get_thredfi_<remote field>()`` or an
entry in ``thredfi_field_map``.

A synced model's ``save()`` also writes ``thredfi_dirty``, a random token saying "changed since
the engine last took this row in", in the same statement as the row: no transaction and no
extra query (the engine takes it in, ``engine/absorb.py``). ``delete()``, and the saves and
deletes of lines, run inside ``transaction.atomic()`` so what their receivers write (the
delete's sync-state row, the parent's marker) commits or rolls back with the host row.
``queryset.update()`` and ``bulk_create()`` set no marker and send no signals: call
``thredfi_django.recording.changes.mark_dirty_many()`` after them.
"""

from .base import ThredfiChildMixin, ThredfiFieldsBase, ThredfiSyncMixin
from .credits import (
    ThredfiCustomerCreditAllocationMixin,
    ThredfiCustomerCreditLineMixin,
    ThredfiCustomerCreditMixin,
    ThredfiVendorCreditAllocationMixin,
    ThredfiVendorCreditLineMixin,
    ThredfiVendorCreditMixin,
)
from .resources import (
    ThredfiArchivableMixin,
    ThredfiBillLineMixin,
    ThredfiBillMixin,
    ThredfiBillPaymentAllocationMixin,
    ThredfiBillPaymentMixin,
    ThredfiBusinessMixin,
    ThredfiCustomerMixin,
    ThredfiDocumentMixin,
    ThredfiInvoiceLineMixin,
    ThredfiInvoiceMixin,
    ThredfiPaymentAllocationMixin,
    ThredfiPaymentMixin,
    ThredfiPayoutMixin,
    ThredfiRefundMixin,
    ThredfiRefundPaymentMixin,
    ThredfiVendorMixin,
    ThredfiVendorRefundAllocationMixin,
    ThredfiVendorRefundMixin,
    ThredfiWriteOffMixin,
)

__all__ = [
    "ThredfiArchivableMixin",
    "ThredfiBillLineMixin",
    "ThredfiBillMixin",
    "ThredfiBillPaymentAllocationMixin",
    "ThredfiBillPaymentMixin",
    "ThredfiBusinessMixin",
    "ThredfiChildMixin",
    "ThredfiCustomerCreditAllocationMixin",
    "ThredfiCustomerCreditLineMixin",
    "ThredfiCustomerCreditMixin",
    "ThredfiCustomerMixin",
    "ThredfiDocumentMixin",
    "ThredfiFieldsBase",
    "ThredfiInvoiceLineMixin",
    "ThredfiInvoiceMixin",
    "ThredfiPaymentAllocationMixin",
    "ThredfiPaymentMixin",
    "ThredfiPayoutMixin",
    "ThredfiRefundMixin",
    "ThredfiRefundPaymentMixin",
    "ThredfiSyncMixin",
    "ThredfiVendorCreditAllocationMixin",
    "ThredfiVendorCreditLineMixin",
    "ThredfiVendorCreditMixin",
    "ThredfiVendorMixin",
    "ThredfiVendorRefundAllocationMixin",
    "ThredfiVendorRefundMixin",
    "ThredfiWriteOffMixin",
]
