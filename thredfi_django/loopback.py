"""Host-name helpers shared by the system checks, ``thredfi_check`` and the fake server.

No Django import: the fake server runs without Django (``python -m thredfi_django.testing.server``).
"""

from __future__ import annotations

import ipaddress


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and any loopback address (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
