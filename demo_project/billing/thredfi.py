"""The demo's THREDFI['TOKEN_BUSINESS_RESOLVER']: which account's accounting a user may open."""

from __future__ import annotations

from django.http import HttpRequest

from .models import Account


def account_for_user(request: HttpRequest, requested_id: str | None) -> Account | None:
    """The account the user belongs to (staff may open any), or None (-> 403).

    ``requested_id`` (``?business=<pk>``) picks one of several; anything else is refused.
    """
    accounts = Account.objects.all()
    if not request.user.is_superuser:
        accounts = accounts.filter(members=request.user)
    if requested_id:
        if not requested_id.isdigit():
            return None
        accounts = accounts.filter(pk=int(requested_id))
    return accounts.order_by("pk").first()
