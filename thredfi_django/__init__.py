"""Keep a Django platform's own models in sync with Thredfi, the embedded accounting API."""

__version__ = "0.1.0"
