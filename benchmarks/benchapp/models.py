"""``PlainInvoice``: the test app's ``Invoice`` field for field, but without thredfi_django.

benchmarks/save_overhead.py saves both to show what the app adds to a host model's ``save()``.
"""

from django.db import models

from tests.testapp.models import Account, Customer


class PlainInvoice(models.Model):
    thredfi_id = models.UUIDField(null=True, blank=True, db_index=True, editable=False)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    customer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    number = models.CharField(max_length=255)
    currency = models.CharField(max_length=3, default="GBP")
    issued_on = models.DateField(null=True, blank=True)
    due_on = models.DateField(null=True, blank=True)
    memo = models.TextField(blank=True)

    def __str__(self):
        return f"Invoice {self.number}"
