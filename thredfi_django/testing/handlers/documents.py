"""The PDF an invoice or bill carries (``document{file, document_type, …}``, multipart only).

Stored on the record (``_documents``: type, name, bytes) and rendered as the documented
``documents[{url, expires_in, document_id, file_name, file_size, mime_type}]``. A document sent
with an update is added to the record's documents.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import FieldErrors
from ..forms import UploadedFile

if TYPE_CHECKING:
    from ..routes import Call

#: How long a rendered document URL is said to stay valid (seconds).
EXPIRES_IN = 3600


def check_document(data: dict, errors: FieldErrors, document_type: str) -> UploadedFile | None:
    """The file of ``data["document"]`` if one was sent; errors for a malformed document or a
    ``document_type`` other than the endpoint's documented one."""
    document = data.get("document")
    if document is None:
        return None
    if not isinstance(document, dict):
        errors.add("document", "Expected an object with file and document_type.")
        return None
    kind = document.get("document_type")
    if kind != document_type:
        shown = "" if kind is None else kind
        errors.add(
            "document.document_type",
            f'"{shown}" is not a valid choice. Must be one of: {document_type}.',
        )
    file = document.get("file")
    if not isinstance(file, UploadedFile):
        errors.add(
            "document.file",
            "The submitted data was not a file. Check the encoding type on the form.",
        )
        return None
    if not file.content:
        errors.add("document.file", "The submitted file is empty.")
        return None
    return file


def attach(call: Call, record: dict[str, Any], file: UploadedFile | None, kind: str) -> None:
    """Keep ``file`` (if any) among the record's documents."""
    if file is None:
        return
    record.setdefault("_documents", []).append(
        {
            "document_id": call.store.new_id(),
            "document_type": kind,
            "file_name": file.file_name,
            "mime_type": file.content_type,
            "content": file.content,
            "url_base": call.link_base,
        }
    )


def rendered(record: dict[str, Any]) -> list[dict[str, Any]]:
    """The record's documents as the API answers them."""
    return [
        {
            "url": f"{doc['url_base']}/__fake__/documents/{doc['document_id']}/",
            "expires_in": EXPIRES_IN,
            "document_id": doc["document_id"],
            "file_name": doc["file_name"],
            "file_size": len(doc["content"]),
            "mime_type": doc["mime_type"],
        }
        for doc in record.get("_documents", ())
    ]
