"""The PDF an invoice or bill sends along as Thredfi's ``document`` (digest §3.9.3, §3.9.5).

The host names a FileField (``thredfi_document_field``) or overrides
``get_thredfi_document()``; what it returns is checked here before any request (a PDF, at most
``THREDFI['DOCUMENT_MAX_BYTES']``) and sent as ``document{file, document_type}`` in a
multipart body (``client/uploads.py``).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

from .client.uploads import Upload
from .conf import thredfi_settings
from .exceptions import ThredfiLocalValidationError

#: The documented ``document_type`` of each resource that takes a document.
DOCUMENT_TYPES = {"invoice": "sales_invoice", "bill": "purchase_invoice"}
#: Every PDF starts with these bytes.
PDF_MAGIC = b"%PDF-"
CHUNK = 1024 * 1024


def attached_file(obj: Any) -> Any | None:
    """The host's file for ``obj``'s document (a Django ``File``), or None."""
    if obj.thredfi_resource not in DOCUMENT_TYPES:
        return None
    return obj.get_thredfi_document() or None


def problems(obj: Any) -> list[str]:
    """What keeps ``obj``'s file from being sent, in words a person can act on (none: [])."""
    file = attached_file(obj)
    if file is None:
        return []
    what = f"{obj._meta.verbose_name} {obj}"
    name = _file_name(file)
    limit = int(thredfi_settings.DOCUMENT_MAX_BYTES)
    try:
        size = file.size
        with _opened(file) as handle:
            start = handle.read(len(PDF_MAGIC))
    except (OSError, ValueError) as err:
        return [f"The document of {what}, {name}, cannot be read ({err}); attach it again."]
    found = []
    if size > limit:
        found.append(_too_big(f"The document of {what}, {name}", size, limit))
    if not start.startswith(PDF_MAGIC):
        found.append(
            f"The document of {what}, {name}, is not a PDF (it does not start with %PDF-); "
            "attach the PDF of the document."
        )
    return found


def upload_of(obj: Any) -> Upload | None:
    """``obj``'s file as an :class:`Upload` (its digest read now, its content when sent)."""
    file = attached_file(obj)
    if file is None:
        return None
    digest = hashlib.sha256()
    size = 0
    try:
        with _opened(file) as handle:
            while chunk := handle.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
    except (OSError, ValueError) as err:
        message = f"The document {_file_name(file)} cannot be read ({err}); attach it again."
        raise ThredfiLocalValidationError(message, {"document": [message]}) from None
    return Upload(_file_name(file), size, digest.hexdigest(), partial(_content, file))


def document_field(obj: Any) -> dict[str, Any] | None:
    """The ``document`` of ``obj``'s request body, or None when it has no file."""
    upload = upload_of(obj)
    if upload is None:
        return None
    return {"file": upload, "document_type": DOCUMENT_TYPES[obj.thredfi_resource]}


def _content(file: Any) -> bytes:
    """The file's bytes, checked against the limit again: the file may have been replaced
    since :func:`problems` looked at it."""
    with _opened(file) as handle:
        data: bytes = handle.read()
    limit = int(thredfi_settings.DOCUMENT_MAX_BYTES)
    if len(data) > limit:
        message = _too_big(f"The document {_file_name(file)}", len(data), limit)
        raise ThredfiLocalValidationError(message, {"document": [message]})
    return data


def _too_big(which: str, size: int, limit: int) -> str:
    return (
        f"{which} is {_size(size)} ({size} bytes); at most {_size(limit)} ({limit} bytes) is "
        "sent (THREDFI['DOCUMENT_MAX_BYTES']). Attach a smaller PDF, or raise the limit."
    )


@contextmanager
def _opened(file: Any) -> Iterator[Any]:
    """A readable handle on ``file`` from its start. A stored file (a FieldFile) gets a handle
    of its own from its storage, safe on a sending thread; another File is rewound."""
    storage = getattr(file, "storage", None)
    if storage is not None:
        handle = storage.open(file.name, "rb")
        try:
            yield handle
        finally:
            handle.close()
        return
    file.open("rb")
    try:
        yield file
    finally:
        file.seek(0)


def _file_name(file: Any) -> str:
    return os.path.basename(str(file.name or "")) or "document.pdf"


def _size(count: int) -> str:
    return f"{count / (1024 * 1024):.1f} MiB" if count >= 1024 * 1024 else f"{count / 1024:.0f} KiB"
