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

``save()`` and ``delete()`` run inside ``transaction.atomic()`` so the outbox row written by the
post_save/post_delete receiver commits (or rolls back) together with the host row.
``queryset.update()`` and ``bulk_create()`` bypass signals: call
``thredfi_django.outbox.mark_dirty_many()`` after them.
"""

from .base import ThredfiChildMixin, ThredfiFieldsBase, ThredfiSyncMixin
from .resources import (
    ThredfiBillLineMixin,
    ThredfiBillMixin,
    ThredfiBillPaymentAllocationMixin,
    ThredfiBillPaymentMixin,
    ThredfiBusinessMixin,
    ThredfiCustomerMixin,
    ThredfiInvoiceLineMixin,
    ThredfiInvoiceMixin,
    ThredfiPaymentAllocationMixin,
    ThredfiPaymentMixin,
    ThredfiRefundMixin,
    ThredfiRefundPaymentMixin,
    ThredfiVendorMixin,
)

__all__ = [
    "ThredfiBillLineMixin",
    "ThredfiBillMixin",
    "ThredfiBillPaymentAllocationMixin",
    "ThredfiBillPaymentMixin",
    "ThredfiBusinessMixin",
    "ThredfiChildMixin",
    "ThredfiCustomerMixin",
    "ThredfiFieldsBase",
    "ThredfiInvoiceLineMixin",
    "ThredfiInvoiceMixin",
    "ThredfiPaymentAllocationMixin",
    "ThredfiPaymentMixin",
    "ThredfiRefundMixin",
    "ThredfiRefundPaymentMixin",
    "ThredfiSyncMixin",
    "ThredfiVendorMixin",
]
