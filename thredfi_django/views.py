"""The frontend token endpoint for Thredfi's embedded accounting widget.

The widget's ``getToken()`` must return ``{access_token, expires_in}`` for a *business-scoped*
token (see docs/thredfi-api.md). Only the partner's backend can mint one, because that
takes the partner token, which grants access to every business and must never reach a browser.
This view is that backend half::

    # urls.py
    path("thredfi/", include("thredfi_django.urls")),   # -> POST /thredfi/token/

    # settings.py
    THREDFI = {..., "TOKEN_BUSINESS_RESOLVER": "myapp.thredfi.business_for_user"}

    # myapp/thredfi.py
    def business_for_user(request, requested_id):
        # requested_id: the optional ?business=<pk or Thredfi id> the page asked for, else None
        qs = Account.objects.filter(members=request.user)
        if requested_id:
            qs = qs.filter(pk=requested_id)
        return qs.first()          # None -> 403

The resolver is the only place that decides which business a user may see; the view never
guesses. Its return value is any object with a ``thredfi_id`` (a model with
``ThredfiBusinessMixin``), or ``None`` for "not allowed". It may also raise
``PermissionDenied``.

The endpoint answers POST only, with Django's CSRF protection: the widget runs on the partner's
own pages, so its ``getToken()`` sends the session cookie plus the ``X-CSRFToken`` header read
from the ``csrftoken`` cookie, e.g.::

    getToken: async () => (await fetch("/thredfi/token/", {
        method: "POST", credentials: "same-origin",
        headers: {"X-CSRFToken": getCookie("csrftoken")}})).json()

Responses (all JSON, never cached): 200 ``{access_token, expires_in, business_id}``;
401 not logged in; 403 no business or not allowed; 409 business not synced to Thredfi yet;
503 Thredfi unreachable or failing (try again); 502 Thredfi refused us (our configuration).
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, JsonResponse
from django.utils.cache import add_never_cache_headers
from django.utils.module_loading import import_string
from django.views import View

from .client import get_client
from .conf import thredfi_settings
from .exceptions import ThredfiConfigurationError, ThredfiError

logger = logging.getLogger("thredfi_django.views")


def _error(status: int, code: str, message: str) -> JsonResponse:
    response = JsonResponse({"error_code": code, "message": message}, status=status)
    add_never_cache_headers(response)
    return response


def get_business_resolver():
    """The callable named by ``THREDFI['TOKEN_BUSINESS_RESOLVER']``."""
    path = thredfi_settings.TOKEN_BUSINESS_RESOLVER
    if not path:
        raise ThredfiConfigurationError(
            "settings.THREDFI['TOKEN_BUSINESS_RESOLVER'] is not set, so the token view cannot "
            "tell which business a user may see. Set it to the dotted path of a function "
            "resolver(request, requested_id) returning the user's business or None."
        )
    if callable(path):
        return path
    try:
        return import_string(path)
    except ImportError as err:
        raise ThredfiConfigurationError(
            f"settings.THREDFI['TOKEN_BUSINESS_RESOLVER'] is {path!r}, which cannot be "
            f"imported: {err}"
        ) from err


class BusinessTokenView(View):
    """POST: a business-scoped Thredfi token for the logged-in user's business."""

    http_method_names = ["post", "options"]

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
        if not request.user.is_authenticated:
            return _error(401, "authentication_required", "Log in to use accounting.")

        requested = request.GET.get("business") or request.POST.get("business") or None
        try:
            business = get_business_resolver()(request, requested)
        except PermissionDenied:
            business = None
        if business is None:
            return _error(
                403,
                "permission_denied",
                "You do not have access to this business's accounting."
                if requested
                else "Your account is not linked to a business with accounting.",
            )

        remote_id = getattr(business, "thredfi_id", None)
        if not remote_id:
            return _error(
                409,
                "business_not_synced",
                "This business has not been set up in Thredfi yet; it will be once its sync "
                "completes. Try again in a moment.",
            )

        try:
            token = get_client().business_token(str(remote_id))
        except ThredfiConfigurationError:
            raise
        except ThredfiError as err:
            # Transient (network, 5xx, 429): the browser may retry. Anything else is our own
            # configuration or data (401 bad partner credentials, 404 unknown business); the
            # details go to the log, never to the browser.
            logger.warning("Could not mint a business token for %s: %s", remote_id, err)
            if err.transient:
                return _error(
                    503, "thredfi_unavailable", "Accounting is unavailable; try again shortly."
                )
            return _error(502, "thredfi_error", "Accounting could not be opened (server error).")

        response = JsonResponse(
            {
                "access_token": token["access_token"],
                "expires_in": token["expires_in"],
                "business_id": str(remote_id),
            }
        )
        add_never_cache_headers(response)
        return response
