"""A small invoicing platform, as a host project would write it, synced with the mixins.

The admin and demo tests build on these models; keep them stable. Field names deliberately
differ from Thredfi's in places (``number``, ``issued_on``, ``name``) to exercise the defaults and
``thredfi_field_map``.
"""

from decimal import Decimal

from django.db import models

from thredfi_django.mixins import (
    ThredfiBillLineMixin,
    ThredfiBillMixin,
    ThredfiBillPaymentAllocationMixin,
    ThredfiBillPaymentMixin,
    ThredfiBusinessMixin,
    ThredfiCustomerCreditAllocationMixin,
    ThredfiCustomerCreditLineMixin,
    ThredfiCustomerCreditMixin,
    ThredfiCustomerMixin,
    ThredfiInvoiceLineMixin,
    ThredfiInvoiceMixin,
    ThredfiPaymentAllocationMixin,
    ThredfiPaymentMixin,
    ThredfiPayoutMixin,
    ThredfiRefundMixin,
    ThredfiRefundPaymentMixin,
    ThredfiVendorCreditAllocationMixin,
    ThredfiVendorCreditLineMixin,
    ThredfiVendorCreditMixin,
    ThredfiVendorMixin,
    ThredfiVendorRefundAllocationMixin,
    ThredfiVendorRefundMixin,
    ThredfiWriteOffMixin,
)

MONEY = {"max_digits": 14, "decimal_places": 2}
#: Unit prices keep 4 decimals, as many platforms do; more than 2 cannot be sent (cents).
PRICE = {"max_digits": 16, "decimal_places": 4}


class Account(ThredfiBusinessMixin):
    """A platform account = a Thredfi business."""

    legal_name = models.CharField(max_length=255)
    email = models.EmailField()
    entity_type = models.CharField(max_length=40, default="limited")
    country = models.CharField(max_length=2, default="GB")
    base_currency = models.CharField(max_length=3, default="GBP")
    phone_number = models.CharField(max_length=40, blank=True)
    vat_number = models.CharField(max_length=40, blank=True)
    company_number = models.CharField(max_length=40, blank=True)

    def __str__(self):
        return self.legal_name


class Customer(ThredfiCustomerMixin):
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="customers")
    name = models.CharField(max_length=200)
    company_name = models.CharField(max_length=200, blank=True)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=40, blank=True)
    address_line1 = models.CharField(max_length=200, blank=True)
    city = models.CharField(max_length=100, blank=True)
    postal_code = models.CharField(max_length=20, blank=True)
    country = models.CharField(max_length=2, blank=True)
    #: Soft delete: archived customers stay in the table.
    is_archived = models.BooleanField(default=False)

    thredfi_field_map = {"individual_name": "name", "mobile_phone": "phone"}
    thredfi_archived_field = "is_archived"

    def __str__(self):
        return self.name


class Invoice(ThredfiInvoiceMixin):
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="invoices")
    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.PROTECT, related_name="invoices"
    )
    number = models.CharField(max_length=255)
    currency = models.CharField(max_length=3, default="GBP")
    issued_on = models.DateField(null=True, blank=True)
    due_on = models.DateField(null=True, blank=True)
    memo = models.TextField(blank=True)
    pdf = models.FileField(upload_to="invoices/", blank=True)

    thredfi_document_field = "pdf"

    def __str__(self):
        return f"Invoice {self.number}"

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines.all()), Decimal("0"))


class InvoiceLine(ThredfiInvoiceLineMixin):
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    description = models.CharField(max_length=500)
    quantity = models.DecimalField(max_digits=12, decimal_places=3, default=Decimal("1"))
    unit_price = models.DecimalField(**PRICE)
    account_code = models.CharField(max_length=20, blank=True, default="4000")

    class Meta:
        ordering = ["pk"]

    def __str__(self):
        return self.description

    @property
    def amount(self) -> Decimal:
        return self.quantity * self.unit_price


class Payment(ThredfiPaymentMixin):
    METHODS = [(m, m.replace("_", " ")) for m in ("bank_transfer", "credit_card", "cash", "other")]

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="payments")
    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.PROTECT, related_name="payments"
    )
    amount = models.DecimalField(**PRICE)
    currency = models.CharField(max_length=3, default="GBP")
    paid_on = models.DateField(null=True, blank=True)
    method = models.CharField(max_length=20, choices=METHODS, default="bank_transfer")
    reference = models.CharField(max_length=100, blank=True)

    def __str__(self):
        return f"Payment {self.reference or self.pk} ({self.amount} {self.currency})"


class PaymentAllocation(ThredfiPaymentAllocationMixin):
    payment = models.ForeignKey(Payment, on_delete=models.CASCADE, related_name="allocations")
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="allocations")
    amount = models.DecimalField(**PRICE)

    class Meta:
        ordering = ["pk"]


class Refund(ThredfiRefundMixin):
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="refunds")
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="refunds")
    amount = models.DecimalField(**MONEY, null=True, blank=True, help_text="Empty = full refund")
    method = models.CharField(max_length=20, default="BANK_TRANSFER")
    refunded_at = models.DateTimeField(null=True, blank=True)
    memo = models.TextField(blank=True)

    def __str__(self):
        return f"Refund of {self.invoice_id}"


class RefundPayment(ThredfiRefundPaymentMixin):
    refund = models.ForeignKey(Refund, on_delete=models.CASCADE, related_name="payments")
    amount = models.DecimalField(**MONEY)
    method = models.CharField(max_length=20, default="BANK_TRANSFER")
    paid_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"Refund payment {self.amount}"


class CustomerCredit(ThredfiCustomerCreditMixin):
    """A credit note for a customer, optionally for one invoice (its source)."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="credits")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="credits")
    invoice = models.ForeignKey(
        Invoice, null=True, blank=True, on_delete=models.PROTECT, related_name="credit_notes"
    )
    issued_on = models.DateField(null=True, blank=True)

    def __str__(self):
        return f"Credit note {self.pk}"


class CustomerCreditLine(ThredfiCustomerCreditLineMixin):
    credit = models.ForeignKey(CustomerCredit, on_delete=models.CASCADE, related_name="lines")
    description = models.CharField(max_length=200, blank=True)
    amount = models.DecimalField(**MONEY)
    tax_amount = models.DecimalField(**MONEY, null=True, blank=True)
    account_code = models.CharField(max_length=20, blank=True, default="4000")

    class Meta:
        ordering = ["pk"]


class CustomerCreditAllocation(ThredfiCustomerCreditAllocationMixin):
    credit = models.ForeignKey(CustomerCredit, on_delete=models.CASCADE, related_name="allocations")
    invoice = models.ForeignKey(
        Invoice, on_delete=models.PROTECT, related_name="credit_allocations"
    )
    amount = models.DecimalField(**MONEY)

    class Meta:
        ordering = ["pk"]


class Payout(ThredfiPayoutMixin):
    """A Stripe settlement of some payments, less its fee."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="payouts")
    processor = models.CharField(max_length=20, default="stripe")
    amount = models.DecimalField(**MONEY)
    fee = models.DecimalField(**MONEY, default=Decimal("0"))
    currency = models.CharField(max_length=3, default="GBP")
    paid_out_at = models.DateTimeField(null=True, blank=True)
    payments = models.ManyToManyField(Payment, blank=True, related_name="payouts")
    refund_payments = models.ManyToManyField(RefundPayment, blank=True, related_name="payouts")

    def __str__(self):
        return f"Payout {self.amount} {self.currency}"


class Vendor(ThredfiVendorMixin):
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="vendors")
    name = models.CharField(max_length=200)
    company_name = models.CharField(max_length=200, blank=True)
    email = models.EmailField(blank=True)
    country = models.CharField(max_length=2, blank=True)
    is_archived = models.BooleanField(default=False)

    thredfi_archived_field = "is_archived"

    def __str__(self):
        return self.name


class Bill(ThredfiBillMixin):
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="bills")
    vendor = models.ForeignKey(
        Vendor, null=True, blank=True, on_delete=models.PROTECT, related_name="bills"
    )
    number = models.CharField(max_length=255)
    currency = models.CharField(max_length=3, default="GBP")
    bill_date = models.DateField(null=True, blank=True)
    due_on = models.DateField(null=True, blank=True)
    memo = models.TextField(blank=True)
    pdf = models.FileField(upload_to="bills/", blank=True)

    thredfi_document_field = "pdf"

    def __str__(self):
        return f"Bill {self.number}"


class BillLine(ThredfiBillLineMixin):
    bill = models.ForeignKey(Bill, on_delete=models.CASCADE, related_name="lines")
    description = models.CharField(max_length=500)
    quantity = models.DecimalField(max_digits=12, decimal_places=3, default=Decimal("1"))
    unit_price = models.DecimalField(**PRICE)
    account_code = models.CharField(max_length=20, blank=True, default="5000")

    class Meta:
        ordering = ["pk"]

    def __str__(self):
        return self.description


class BillPayment(ThredfiBillPaymentMixin):
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="bill_payments")
    vendor = models.ForeignKey(Vendor, on_delete=models.PROTECT, related_name="payments")
    amount = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3, default="GBP")
    paid_on = models.DateField(null=True, blank=True)
    method = models.CharField(max_length=20, default="bank_transfer")
    reference = models.CharField(max_length=100, blank=True)

    def __str__(self):
        return f"Bill payment {self.reference or self.pk}"


class BillPaymentAllocation(ThredfiBillPaymentAllocationMixin):
    bill_payment = models.ForeignKey(
        BillPayment, on_delete=models.CASCADE, related_name="allocations"
    )
    bill = models.ForeignKey(Bill, on_delete=models.PROTECT, related_name="allocations")
    amount = models.DecimalField(**MONEY)

    class Meta:
        ordering = ["pk"]


class VendorCredit(ThredfiVendorCreditMixin):
    """A credit note from a vendor, optionally for one bill (its source)."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="vendor_credits")
    vendor = models.ForeignKey(Vendor, on_delete=models.PROTECT, related_name="credits")
    bill = models.ForeignKey(
        Bill, null=True, blank=True, on_delete=models.PROTECT, related_name="credit_notes"
    )
    received_on = models.DateField(null=True, blank=True)

    def __str__(self):
        return f"Vendor credit {self.pk}"


class VendorCreditLine(ThredfiVendorCreditLineMixin):
    credit = models.ForeignKey(VendorCredit, on_delete=models.CASCADE, related_name="lines")
    description = models.CharField(max_length=200, blank=True)
    amount = models.DecimalField(**MONEY)
    account_code = models.CharField(max_length=20, blank=True, default="5000")

    class Meta:
        ordering = ["pk"]


class VendorCreditAllocation(ThredfiVendorCreditAllocationMixin):
    credit = models.ForeignKey(VendorCredit, on_delete=models.CASCADE, related_name="allocations")
    bill = models.ForeignKey(Bill, on_delete=models.PROTECT, related_name="credit_allocations")
    amount = models.DecimalField(**MONEY)

    class Meta:
        ordering = ["pk"]


class WriteOff(ThredfiWriteOffMixin):
    """Part of an invoice given up as bad debt."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="write_offs")
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="write_offs")
    amount = models.DecimalField(**MONEY)
    written_off_at = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(max_length=200, blank=True)
    account_code = models.CharField(max_length=20, blank=True)

    def __str__(self):
        return f"Write-off of {self.amount}"


class VendorRefund(ThredfiVendorRefundMixin):
    """An overpayment a vendor sent back."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="vendor_refunds")
    vendor = models.ForeignKey(Vendor, on_delete=models.PROTECT, related_name="refunds")
    amount = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3, default="GBP")
    refunded_on = models.DateField(null=True, blank=True)
    refund_type = models.CharField(max_length=30, default="overpayment")

    def __str__(self):
        return f"Vendor refund {self.amount}"


class VendorRefundAllocation(ThredfiVendorRefundAllocationMixin):
    refund = models.ForeignKey(VendorRefund, on_delete=models.CASCADE, related_name="allocations")
    bill = models.ForeignKey(Bill, on_delete=models.PROTECT, related_name="refund_allocations")
    amount = models.DecimalField(**MONEY)

    class Meta:
        ordering = ["pk"]
