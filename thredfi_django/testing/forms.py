"""Multipart bodies, read as a DRF-based server reads them (digest §1: multipart is how
``document.file`` travels).

Keys follow DRF's form notation, nested back into objects and lists: ``document.file``,
``line_items[0]quantity``, ``line_items[0]account_identifier.type``, ``tags[0]``. Form values
are text; DRF's serializer fields would turn them into numbers, so the integer fields of the
bodies that take multipart are converted here (``INTEGER_FIELDS``), and ``metadata`` is read as
JSON text, as DRF's JSONField reads form input.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from email.message import Message
from email.parser import Parser
from typing import Any

from .errors import field_error

#: Form fields read as integers (amounts in cents), as the server's serializer would.
INTEGER_FIELDS = frozenset({
    "unit_price", "unit_price_cents", "discount_amount", "amount", "additional_discount",
    "additional_sales_taxes_total", "tips", "tax_amount_cents",
})  # fmt: skip
#: Form fields holding JSON text.
JSON_FIELDS = frozenset({"metadata"})
_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


@dataclass
class UploadedFile:
    """A file part of a multipart body."""

    file_name: str
    content: bytes = field(repr=False)
    content_type: str

    @property
    def size(self) -> int:
        return len(self.content)


def parse_multipart(raw: bytes, content_type: str) -> dict[str, Any]:
    """The body's parts as one nested dict (see the module docstring)."""
    header = Message()
    header["Content-Type"] = content_type
    boundary = header.get_param("boundary")
    if not boundary:
        raise field_error("non_field_errors", "Multipart form parse error - no boundary.")
    flat: dict[str, Any] = {}
    delimiter = b"--" + str(boundary).encode("latin-1")
    for chunk in raw.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break  # the closing delimiter
        head, _, content = chunk.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        headers = Parser().parsestr(head.decode("utf-8", "replace"))
        name = headers.get_param("name", header="content-disposition")
        if not name:
            raise field_error(
                "non_field_errors", "Multipart form parse error - a part has no name."
            )
        content = content.removesuffix(b"\r\n")
        file_name = headers.get_param("filename", header="content-disposition")
        if file_name is not None:
            kind = (
                headers.get_content_type()
                if headers["Content-Type"]
                else "application/octet-stream"
            )
            flat[str(name)] = UploadedFile(str(file_name), content, kind)
        else:
            flat[str(name)] = content.decode("utf-8", "replace")
    return nest(flat)


def nest(flat: dict[str, Any]) -> dict[str, Any]:
    """``{"a[0]b.c": v}`` → ``{"a": [{"b": {"c": v}}]}``, with DRF's conversions of values.
    A name that names no field (``[]``), or one field as both a value and an object (``memo``
    and ``memo.a``), is a 400, as a server's validation would answer it."""
    root: dict[Any, Any] = {}
    for key, value in flat.items():
        path = [int(index) if index else name for name, index in _PART.findall(key)]
        if not path or not isinstance(path[0], str):
            raise field_error(key, "This is not a field name.")
        node = root
        for step in path[:-1]:
            node = node.setdefault(step, {})
            if not isinstance(node, dict):
                raise field_error(key, f"Conflicts with the value of {step!r}.")
        if path[-1] in node:
            raise field_error(key, "Conflicts with another part naming the same field.")
        node[path[-1]] = _converted(str(path[-1]), value)
    return _lists(root)


def _converted(name: str, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    if name in INTEGER_FIELDS and re.fullmatch(r"-?\d+", value):
        return int(value)
    if name in JSON_FIELDS:
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _lists(node: Any) -> Any:
    """Dicts keyed by indexes become lists, in index order."""
    if not isinstance(node, dict):
        return node
    if node and all(isinstance(key, int) for key in node):
        return [_lists(node[key]) for key in sorted(node)]
    return {key: _lists(value) for key, value in node.items()}
