"""List endpoints: filters every list shares and both documented pagination envelopes (§6).

``page_info`` (API reference, widget): ``{"count", "page_info": {total_count, current_page,
total_pages, page_size}, "results"}``; ``next`` (pagination guide, quickstart): ``{"count",
"next", "previous", "results"}`` with absolute URLs. ``page_size`` defaults to 20 and is clamped
to 100. A page past the end answers an empty ``results`` (the docs do not say; DRF would 404).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from .errors import FieldErrors

if TYPE_CHECKING:
    from .routes import Call

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100


def _positive_int(query: dict[str, str], name: str, default: int, errors: FieldErrors) -> int:
    raw = query.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        errors.add(name, "A positive integer is required.")
    return value


def paginate(call: Call, items: list[Any], render: Callable[[Any], dict]) -> dict[str, Any]:
    """One page of ``items`` (rendered) in the envelope chosen by ``fake.pagination_style``."""
    errors = FieldErrors()
    page = _positive_int(call.query, "page", 1, errors)
    size = _positive_int(call.query, "page_size", DEFAULT_PAGE_SIZE, errors)
    errors.raise_if_any()
    size = min(size, MAX_PAGE_SIZE)
    total = len(items)
    total_pages = max(1, -(-total // size))
    start = (page - 1) * size
    results = [render(item) for item in items[start : start + size]]
    if call.fake.pagination_style == "next":
        return {
            "count": total,
            "next": _link(call, page + 1, size) if page < total_pages else None,
            "previous": _link(call, page - 1, size) if 1 < page <= total_pages + 1 else None,
            "results": results,
        }
    return {
        "count": total,
        "page_info": {
            "total_count": total,
            "current_page": page,
            "total_pages": total_pages,
            "page_size": size,
        },
        "results": results,
    }


def _link(call: Call, page: int, size: int) -> str:
    query = {**call.query, "page": str(page), "page_size": str(size)}
    return f"{call.link_base}{call.path}?{urlencode(query)}"


def matches_exact(query: dict[str, str], record: dict[str, Any], *names: str) -> bool:
    """True unless one of the query ``names`` is given and differs from the record's field.

    ``external_id`` is honoured on every list (the docs show it only on vendors; an emulator
    accepting it everywhere is harmless, and clients verify matches themselves).
    """
    for name in names:
        wanted = query.get(name)
        if wanted not in (None, "") and str(record.get(name)) != wanted:
            return False
    return True


def in_csv(query: dict[str, str], name: str, value: Any) -> bool:
    """True unless ``name`` is given as a comma-separated list not containing ``value``."""
    wanted = query.get(name)
    if wanted in (None, ""):
        return True
    return str(value) in {part.strip() for part in wanted.split(",")}


def filtered(records: Iterable[dict], keep: Callable[[dict], bool]) -> list[dict]:
    return [record for record in records if keep(record)]
