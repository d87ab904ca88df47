"""Files inside request bodies, sent as multipart/form-data.

Thredfi's write endpoints take JSON, form and multipart bodies, and a file (an invoice's PDF,
``document.file``) travels only in multipart. Thredfi looks DRF-based, so a body with a file is
flattened the way DRF's form parsing reads nested data back: ``document.file``,
``line_items[0]quantity``, ``line_items[0]account_identifier.type``. Every other body stays JSON.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: Keys holding free-form objects: DRF reads a JSONField from form input as JSON text, so these
#: are sent as one JSON string rather than flattened.
JSON_TEXT_KEYS = frozenset({"metadata"})


@dataclass(frozen=True)
class Upload:
    """A file in a request body. ``read()`` is called when the request is built, not before,
    so a batch of planned pushes holds no file contents."""

    file_name: str
    size: int
    #: SHA-256 of the content (hex): tells a changed file from one already sent.
    digest: str
    read: Callable[[], bytes] = field(repr=False, compare=False)
    content_type: str = "application/pdf"

    def __str__(self) -> str:
        return f"{self.file_name} ({self.size} bytes, {self.content_type})"


def carries_upload(value: Any) -> bool:
    """Does ``value`` (a JSON-like body) hold an :class:`Upload` anywhere?"""
    if isinstance(value, Upload):
        return True
    if isinstance(value, dict):
        return any(carries_upload(item) for item in value.values())
    if isinstance(value, (list, tuple)):
        return any(carries_upload(item) for item in value)
    return False


FormFields = list[tuple[str, str]]
FormFiles = list[tuple[str, tuple[str, bytes, str]]]


def form_fields(body: dict[str, Any]) -> tuple[FormFields, FormFiles]:
    """``body`` as (fields, files) for ``requests``' ``data=`` and ``files=``, in DRF's
    notation. Scalars become text (booleans ``true``/``false``), None is left out (form data
    has no null), and so is an empty list (DRF has no form notation for one)."""
    fields: FormFields = []
    files: FormFiles = []

    def walk(name: str, value: Any) -> None:
        if value is None:
            return
        if isinstance(value, Upload):
            files.append((name, (value.file_name, value.read(), value.content_type)))
        elif isinstance(value, dict) and _last_key(name) in JSON_TEXT_KEYS:
            fields.append((name, json.dumps(value, default=str)))
        elif isinstance(value, dict):
            for key, item in value.items():
                # After a list index DRF reads the key with no dot: line_items[0]quantity.
                walk(f"{name}{key}" if name.endswith("]") else f"{name}.{key}", item)
        elif isinstance(value, (list, tuple)):
            for index, item in enumerate(value):
                walk(f"{name}[{index}]", item)
        elif isinstance(value, bool):
            fields.append((name, "true" if value else "false"))
        else:
            fields.append((name, str(value)))

    for key, value in body.items():
        walk(str(key), value)
    return fields, files


def _last_key(name: str) -> str:
    return name.rsplit(".", 1)[-1].rsplit("]", 1)[-1]
