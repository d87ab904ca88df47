"""Small builders for the test-app models (used by the engine, admin and demo tests)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from itertools import count

from .models import (
    Account,
    Bill,
    BillLine,
    BillPayment,
    BillPaymentAllocation,
    Customer,
    CustomerCredit,
    CustomerCreditAllocation,
    CustomerCreditLine,
    Invoice,
    InvoiceLine,
    Payment,
    PaymentAllocation,
    Payout,
    Refund,
    RefundPayment,
    Vendor,
    VendorCredit,
    VendorCreditAllocation,
    VendorCreditLine,
    VendorRefund,
    VendorRefundAllocation,
    WriteOff,
)

_n = count(1)
TODAY = dt.date(2026, 11, 24)


def make_account(**fields) -> Account:
    n = next(_n)
    fields.setdefault("legal_name", f"Acme {n} Ltd")
    fields.setdefault("email", f"books{n}@acme.example")
    return Account.objects.create(**fields)


def make_customer(account: Account | None = None, **fields) -> Customer:
    n = next(_n)
    fields.setdefault("name", f"Customer {n}")
    fields.setdefault("email", f"customer{n}@example.com")
    return Customer.objects.create(account=account or make_account(), **fields)


def make_invoice(
    customer: Customer | None = None, *, lines=((Decimal("2"), Decimal("50.00")),), **fields
) -> Invoice:
    """An invoice with ``lines`` ((quantity, unit price), ...); a new customer if none given."""
    customer = customer or make_customer()
    fields.setdefault("account", customer.account if customer else make_account())
    fields.setdefault("number", f"INV-{next(_n):04d}")
    fields.setdefault("issued_on", TODAY)
    fields.setdefault("due_on", TODAY + dt.timedelta(days=30))
    invoice = Invoice.objects.create(customer=customer, **fields)
    for i, (quantity, price) in enumerate(lines, 1):
        InvoiceLine.objects.create(
            invoice=invoice, description=f"Item {i}", quantity=quantity, unit_price=price
        )
    return invoice


def make_payment(invoice: Invoice, amount: Decimal | None = None, **fields) -> Payment:
    amount = invoice.total if amount is None else amount
    fields.setdefault("paid_on", TODAY)
    fields.setdefault("reference", f"PAY-{next(_n)}")
    payment = Payment.objects.create(
        account=invoice.account, customer=invoice.customer, amount=amount, **fields
    )
    PaymentAllocation.objects.create(payment=payment, invoice=invoice, amount=amount)
    return payment


def make_refund(invoice: Invoice, amount: Decimal | None = None, **fields) -> Refund:
    fields.setdefault("refunded_at", dt.datetime(2026, 11, 25, 12, tzinfo=dt.timezone.utc))
    return Refund.objects.create(account=invoice.account, invoice=invoice, amount=amount, **fields)


def make_refund_payment(refund: Refund, amount: Decimal, **fields) -> RefundPayment:
    fields.setdefault("paid_at", dt.datetime(2026, 11, 26, 12, tzinfo=dt.timezone.utc))
    return RefundPayment.objects.create(refund=refund, amount=amount, **fields)


def make_vendor(account: Account | None = None, **fields) -> Vendor:
    fields.setdefault("name", f"Vendor {next(_n)}")
    return Vendor.objects.create(account=account or make_account(), **fields)


def make_bill(vendor: Vendor | None = None, *, lines=((1, Decimal("120.00")),), **fields) -> Bill:
    vendor = vendor or make_vendor()
    fields.setdefault("number", f"BILL-{next(_n):04d}")
    fields.setdefault("bill_date", TODAY)
    fields.setdefault("due_on", TODAY + dt.timedelta(days=14))
    bill = Bill.objects.create(account=vendor.account, vendor=vendor, **fields)
    for i, (quantity, price) in enumerate(lines, 1):
        BillLine.objects.create(
            bill=bill, description=f"Cost {i}", quantity=quantity, unit_price=price
        )
    return bill


def make_bill_payment(bill: Bill, amount: Decimal, **fields) -> BillPayment:
    fields.setdefault("paid_on", TODAY)
    payment = BillPayment.objects.create(
        account=bill.account, vendor=bill.vendor, amount=amount, **fields
    )
    BillPaymentAllocation.objects.create(bill_payment=payment, bill=bill, amount=amount)
    return payment


def make_payout(payments=(), refund_payments=(), **fields) -> Payout:
    """A payout of ``payments`` (amount: their total unless given), paid out now."""
    payments = list(payments)
    account = fields.pop("account", None) or payments[0].account
    fields.setdefault("amount", sum((p.amount for p in payments), Decimal("0")))
    fields.setdefault("paid_out_at", dt.datetime(2026, 11, 27, 9, tzinfo=dt.timezone.utc))
    payout = Payout.objects.create(account=account, **fields)
    payout.payments.set(payments)
    payout.refund_payments.set(refund_payments)
    return payout


def make_customer_credit(invoice: Invoice, lines=(Decimal("20.00"),), allocate=None, **fields):
    """A credit note for ``invoice``'s customer (``invoice`` is its source), with one line per
    amount in ``lines``; ``allocate`` applies that much of it to the invoice."""
    fields.setdefault("issued_on", TODAY)
    credit = CustomerCredit.objects.create(
        account=invoice.account, customer=invoice.customer, invoice=invoice, **fields
    )
    for amount in lines:
        CustomerCreditLine.objects.create(credit=credit, description="Goodwill", amount=amount)
    if allocate is not None:
        CustomerCreditAllocation.objects.create(credit=credit, invoice=invoice, amount=allocate)
    return credit


def make_vendor_credit(bill: Bill, lines=(Decimal("20.00"),), allocate=None, **fields):
    """A credit note from ``bill``'s vendor, like :func:`make_customer_credit`."""
    fields.setdefault("received_on", TODAY)
    credit = VendorCredit.objects.create(
        account=bill.account, vendor=bill.vendor, bill=bill, **fields
    )
    for amount in lines:
        VendorCreditLine.objects.create(credit=credit, description="Damaged", amount=amount)
    if allocate is not None:
        VendorCreditAllocation.objects.create(credit=credit, bill=bill, amount=allocate)
    return credit


def make_write_off(invoice: Invoice, amount: Decimal, **fields) -> WriteOff:
    fields.setdefault("written_off_at", dt.datetime(2026, 12, 31, tzinfo=dt.timezone.utc))
    return WriteOff.objects.create(
        account=invoice.account, invoice=invoice, amount=amount, **fields
    )


def make_vendor_refund(bill: Bill, amount: Decimal, **fields) -> VendorRefund:
    """A refund from ``bill``'s vendor of ``amount``, allocated to ``bill``."""
    fields.setdefault("refunded_on", TODAY)
    refund = VendorRefund.objects.create(
        account=bill.account, vendor=bill.vendor, amount=amount, **fields
    )
    VendorRefundAllocation.objects.create(refund=refund, bill=bill, amount=amount)
    return refund
