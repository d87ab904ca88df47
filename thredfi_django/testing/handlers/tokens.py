"""``POST /oauth2/token/`` (partner token) and ``POST /{business_id}/oauth2/token/`` (§2)."""

from __future__ import annotations

import hmac

from ..auth import basic_credentials
from ..errors import error, validation_error
from ..routes import Call, route


@route("POST", "/oauth2/token/", auth="basic")
def partner_token(call: Call):
    """Basic partner_uuid:api_key; body optional (older guides send none), JSON or form."""
    user, password = basic_credentials(call.headers)
    known = call.store.partners.get(user)
    if known is None or not hmac.compare_digest(known.encode(), password.encode()):
        raise error(401, "authentication_failed", "Invalid partner UUID or API key.")
    body = call.body()
    grant_type = body.get("grant_type", "client_credentials")
    if grant_type != "client_credentials":
        raise validation_error({"grant_type": ["Only 'client_credentials' is supported."]})
    client_id = body.get("client_id")
    if client_id not in (None, "") and str(client_id) != user:
        raise validation_error(
            {"client_id": ["client_id must equal the partner UUID of the Basic credentials."]}
        )
    token = call.fake.issue_token(user, None)
    return 200, {
        "access_token": token.value,
        "token_type": "Bearer",
        "expires_in": call.fake.token_ttl,
    }


@route("POST", "/{business_id}/oauth2/token/", auth="partner")
def business_token(call: Call):
    """Bearer partner token; the business must belong to that partner (else 404)."""
    token = call.fake.issue_token(call.token.partner_uuid, call.business_id)
    return 200, {
        "access_token": token.value,
        "token_type": "Bearer",
        "expires_in": call.fake.token_ttl,
        "scope": "business_access",
        "business_id": call.business_id,
    }
