"""The demo's admin: ordinary ModelAdmins with ThredfiSyncAdminMixin mixed in (status badge,
filter, Thredfi fieldset, "Sync now" / "Retry failed")."""

from django.contrib import admin

from thredfi_django.admin import ThredfiSyncAdminMixin

from . import models

admin.site.site_header = "Demo partner platform (thredfi-django)"
admin.site.site_title = "Demo platform"


class DemoAdmin(ThredfiSyncAdminMixin, admin.ModelAdmin):
    """Our mixin, plus (demo only) a changelist that refreshes itself while something is
    pending, so a new invoice's badge turns to "synced" on its own."""

    class Media:
        js = ["billing/follow_sync.js"]


class InvoiceLineInline(admin.TabularInline):
    model = models.InvoiceLine
    extra = 1


class PaymentAllocationInline(admin.TabularInline):
    model = models.PaymentAllocation
    extra = 1
    autocomplete_fields = ["invoice"]


@admin.register(models.Account)
class AccountAdmin(DemoAdmin):
    list_display = ["name", "email", "country", "currency"]
    search_fields = ["name", "email"]
    filter_horizontal = ["members"]


@admin.register(models.Customer)
class CustomerAdmin(DemoAdmin):
    list_display = ["name", "company_name", "account", "email"]
    list_select_related = ["account"]
    list_filter = ["account"]
    search_fields = ["name", "company_name", "email"]


@admin.register(models.Invoice)
class InvoiceAdmin(DemoAdmin):
    list_display = ["number", "account", "customer", "issued_on", "due_on"]
    list_select_related = ["account", "customer"]
    list_filter = ["account"]
    search_fields = ["number", "customer__name"]
    inlines = [InvoiceLineInline]


@admin.register(models.Payment)
class PaymentAdmin(DemoAdmin):
    list_display = ["__str__", "account", "customer", "paid_on", "method"]
    list_select_related = ["account", "customer"]
    inlines = [PaymentAllocationInline]
