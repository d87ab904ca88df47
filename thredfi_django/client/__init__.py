"""The Thredfi partner API client: HTTP only, no Django models.

from thredfi_django.client import get_client
client = get_client()
business = client.businesses.create({"external_id": "...", "legal_name": "...", ...})
client.business(business["id"]).customers.create({...})
"""

from .api import USER_AGENT, ThredfiClient
from .pagination import PaginationError
from .resources import BusinessScope, Record, Resource
from .shared import build_client, get_client, reset_client
from .uploads import Upload

__all__ = [
    "USER_AGENT",
    "BusinessScope",
    "PaginationError",
    "Record",
    "Resource",
    "ThredfiClient",
    "Upload",
    "build_client",
    "get_client",
    "reset_client",
]
