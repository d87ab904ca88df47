"""A page showing what the embedded widget's getToken() does: POST /thredfi/token/."""

from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.shortcuts import render

from .models import Account


@staff_member_required
def accounting(request):
    accounts = Account.objects.all() if request.user.is_superuser else request.user.accounts.all()
    # The admin site's context (site header, title, nav) so the page reads as part of the admin.
    context = {**admin.site.each_context(request), "accounts": accounts, "title": "Accounting"}
    return render(request, "billing/accounting.html", context)
