"""Endpoint handlers, one module per domain; importing a module registers its routes."""

from __future__ import annotations

import importlib

from .common import RENDERERS

MODULES = (
    "tokens",
    "businesses",
    "customers",
    "invoices",
    "payments",
    "refunds",
    "vendors",
    "bills",
    "payouts",
    "accounts",
    "credits",
    "write_offs",
    "vendor_refunds",
)


def load() -> None:
    """Import every handler module once (registration happens at import)."""
    for name in MODULES:
        importlib.import_module(f"{__name__}.{name}")


__all__ = ["RENDERERS", "load"]
