"""A small partner platform: accounts (the SMEs using it), their customers, invoices, payments.

Each model adds one thredfi_django mixin and otherwise stays an ordinary Django model. Field
names the mixins already understand (``name``, ``number``, ``issued_on``, ``due_on``,
``quantity``, ``unit_price``, ``amount``, ``paid_on``…) need no mapping; the rest is one line of
``thredfi_field_map`` or a ``get_thredfi_<field>()`` method.
"""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils import timezone

from thredfi_django.mixins import (
    ThredfiBusinessMixin,
    ThredfiCustomerMixin,
    ThredfiInvoiceLineMixin,
    ThredfiInvoiceMixin,
    ThredfiPaymentAllocationMixin,
    ThredfiPaymentMixin,
)


class Account(ThredfiBusinessMixin, models.Model):
    """A company using the platform: one Thredfi business."""

    name = models.CharField(max_length=200)  # -> legal_name
    email = models.EmailField()
    entity_type = models.CharField(max_length=30, default="limited")
    country = models.CharField(max_length=2, default="GB")
    currency = models.CharField(max_length=3, default="GBP")  # -> base_currency
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="accounts")

    def __str__(self):
        return self.name


class Customer(ThredfiCustomerMixin, models.Model):
    """Someone an account invoices."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="customers")
    name = models.CharField(max_length=200)  # -> individual_name
    company_name = models.CharField(max_length=200, blank=True)
    email = models.EmailField(blank=True)

    def __str__(self):
        return self.company_name or self.name


class Invoice(ThredfiInvoiceMixin, models.Model):
    """A sales invoice; its lines are InvoiceLine rows."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="invoices")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="invoices")
    number = models.CharField(max_length=50)  # -> invoice_number
    issued_on = models.DateField(default=timezone.localdate)  # -> sent_at
    due_on = models.DateField()  # -> due_at
    memo = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account", "number"], name="billing_invoice_number")
        ]

    def __str__(self):
        return self.number

    @property
    def currency(self) -> str:
        return self.account.currency

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines.all()), Decimal("0.00"))


class InvoiceLine(ThredfiInvoiceLineMixin, models.Model):
    """One line of an invoice; saving it re-syncs the invoice."""

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    description = models.CharField(max_length=200)
    quantity = models.DecimalField(max_digits=10, decimal_places=2, default=Decimal("1"))
    unit_price = models.DecimalField(max_digits=12, decimal_places=2)
    account_code = models.CharField(max_length=10, default="4000")  # revenue ledger account

    def __str__(self):
        return self.description

    @property
    def amount(self) -> Decimal:
        return self.quantity * self.unit_price


class Payment(ThredfiPaymentMixin, models.Model):
    """Money received from a customer, allocated to one or more invoices."""

    class Method(models.TextChoices):
        BANK_TRANSFER = "bank_transfer", "Bank transfer"
        CARD = "credit_card", "Card"
        CASH = "cash", "Cash"

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="payments")
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="payments")
    amount = models.DecimalField(max_digits=12, decimal_places=2)  # -> total_amount_cents
    paid_on = models.DateField(default=timezone.localdate)  # -> payment_date
    method = models.CharField(max_length=20, choices=Method.choices, default=Method.BANK_TRANSFER)
    reference = models.CharField(max_length=100, blank=True)

    def __str__(self):
        return f"{self.amount} {self.currency} from {self.customer}"

    @property
    def currency(self) -> str:
        return self.account.currency


class PaymentAllocation(ThredfiPaymentAllocationMixin, models.Model):
    """The part of a payment applied to one invoice."""

    payment = models.ForeignKey(Payment, on_delete=models.CASCADE, related_name="allocations")
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="allocations")
    amount = models.DecimalField(max_digits=12, decimal_places=2)

    def __str__(self):
        return f"{self.amount} to {self.invoice}"
