"""``manage.py seed_demo``: sample accounts, customers, invoices and a payment (idempotent)."""

from datetime import timedelta
from decimal import Decimal

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from demo_project.billing.models import (
    Account,
    Customer,
    Invoice,
    InvoiceLine,
    Payment,
    PaymentAllocation,
)

SAMPLE = {
    ("Acme Bakery Ltd", "hello@acme-bakery.example"): {
        ("Jane Doe", "Doe Catering"): [
            ("ACME-0001", [("Sourdough loaves", "24", "3.50"), ("Delivery", "1", "12.00")]),
            ("ACME-0002", [("Wedding cake", "1", "420.00")]),
        ],
        ("Sam Lee", ""): [("ACME-0003", [("Croissants (dozen)", "3", "14.40")])],
    },
    ("Northwind Studio Ltd", "accounts@northwind.example"): {
        ("Ola Berg", "Fjord Media AS"): [
            ("NW-1001", [("Logo design", "1", "1200.00"), ("Brand guide", "1", "650.00")]),
        ],
    },
}


class Command(BaseCommand):
    help = "Create the demo's sample accounts, customers, invoices and one payment (idempotent)."

    @transaction.atomic
    def handle(self, *args, **options):
        today = timezone.localdate()
        created = 0
        for (account_name, email), customers in SAMPLE.items():
            account, new = Account.objects.get_or_create(
                name=account_name, defaults={"email": email}
            )
            created += new
            for (name, company), invoices in customers.items():
                customer, new = Customer.objects.get_or_create(
                    account=account, name=name, defaults={"company_name": company}
                )
                created += new
                for number, lines in invoices:
                    if Invoice.objects.filter(account=account, number=number).exists():
                        continue
                    invoice = Invoice(
                        account=account,
                        customer=customer,
                        number=number,
                        issued_on=today,
                        due_on=today + timedelta(days=30),
                    )
                    invoice.save()
                    for description, quantity, price in lines:
                        InvoiceLine.objects.create(
                            invoice=invoice,
                            description=description,
                            quantity=Decimal(quantity),
                            unit_price=Decimal(price),
                        )
                    created += 1

        first = Invoice.objects.filter(number="ACME-0001").first()
        if first and not first.allocations.exists():
            payment = Payment.objects.create(
                account=first.account, customer=first.customer, amount=first.total,
                reference="Bank transfer ACME-0001",
            )  # fmt: skip
            PaymentAllocation.objects.create(payment=payment, invoice=first, amount=first.total)
            created += 1
        self.stdout.write(f"Sample data: {created} new object(s).")
