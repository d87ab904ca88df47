"""A page showing what the embedded widget's getToken() does: POST /thredfi/token/."""

from django.contrib.admin.views.decorators import staff_member_required
from django.shortcuts import render

from .models import Account


@staff_member_required
def accounting(request):
    accounts = Account.objects.all() if request.user.is_superuser else request.user.accounts.all()
    return render(request, "billing/accounting.html", {"accounts": accounts, "title": "Accounting"})
