"""The test host project's admin: its own ModelAdmins with ThredfiSyncAdminMixin mixed in."""

from django.contrib import admin

from thredfi_django.admin import ThredfiSyncAdminMixin

from . import models


class InvoiceLineInline(admin.TabularInline):
    model = models.InvoiceLine
    extra = 0


class PaymentAllocationInline(admin.TabularInline):
    model = models.PaymentAllocation
    extra = 0


@admin.register(models.Account)
class AccountAdmin(ThredfiSyncAdminMixin, admin.ModelAdmin):
    list_display = ["legal_name", "email", "country"]
    search_fields = ["legal_name", "email"]


@admin.register(models.Customer)
class CustomerAdmin(ThredfiSyncAdminMixin, admin.ModelAdmin):
    list_display = ["name", "account", "email"]
    list_select_related = ["account"]
    search_fields = ["name", "email"]


@admin.register(models.Invoice)
class InvoiceAdmin(ThredfiSyncAdminMixin, admin.ModelAdmin):
    list_display = ["number", "account", "customer", "currency", "issued_on"]
    list_select_related = ["account", "customer"]
    list_filter = ["currency"]
    search_fields = ["number"]
    inlines = [InvoiceLineInline]


@admin.register(models.Payment)
class PaymentAdmin(ThredfiSyncAdminMixin, admin.ModelAdmin):
    list_display = ["__str__", "account", "customer", "paid_on"]
    list_select_related = ["account", "customer"]
    inlines = [PaymentAllocationInline]


@admin.register(models.Refund, models.RefundPayment, models.Vendor, models.Bill)
class OtherSyncedAdmin(ThredfiSyncAdminMixin, admin.ModelAdmin):
    pass
