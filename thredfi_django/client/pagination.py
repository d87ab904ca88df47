"""Walking every page of a list endpoint, whichever envelope Thredfi answers with.

The docs show two envelopes (digest §6): the pagination guide's ``{count, next, previous,
results}`` and the API reference's ``{count, page_info: {total_count, current_page, total_pages,
page_size}, results}``. Both are understood. ``next`` URLs are read for their query parameters
only and requested on our own base URL, so a token is never sent to whatever host a ``next`` link
names (and a future cursor parameter would still be honoured).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ..exceptions import ThredfiAPIError

#: Thredfi's maximum page size; the pagination guide recommends always asking for it.
PAGE_SIZE = 100
#: A hard stop for a server that never says "last page" (1,000,000 records at 100 a page).
MAX_PAGES = 10_000


class PaginationError(ThredfiAPIError):
    """The server's pages did not advance (the same page again, or no end in sight)."""

    kind = "pagination"


def iterate(
    fetch: Callable[[dict[str, Any]], Any],
    filters: dict[str, Any] | None = None,
    *,
    path: str = "",
    page_size: int = PAGE_SIZE,
    max_pages: int = MAX_PAGES,
) -> Iterator[dict[str, Any]]:
    """Every record of a list endpoint; ``fetch(params)`` returns one page's decoded body."""
    params: dict[str, Any] = {**(filters or {}), "page": 1, "page_size": page_size}
    previous: tuple[Any, ...] | None = None
    seen = 0
    for _ in range(max_pages):
        body = fetch(params)
        if isinstance(body, list):  # an unpaginated list: everything at once
            yield from body
            return
        if not isinstance(body, dict) or not isinstance(body.get("results", []), list):
            raise PaginationError(
                f"expected a page of results, got {type(body).__name__}", method="GET", path=path
            )
        results = body.get("results") or []
        if not results:
            return
        signature = _signature(results)
        if signature == previous:
            raise PaginationError(
                f"page {params.get('page')} repeats the previous page; stopping rather than "
                "looping forever (the server ignores the page parameter?)",
                method="GET",
                path=path,
            )
        previous = signature
        seen += len(results)
        yield from results
        following = _next_params(body, params, results, page_size, seen)
        if following is None:
            return
        if following == params:
            raise PaginationError(
                f"the next page link points at the current page ({params})",
                method="GET",
                path=path,
            )
        params = following
    raise PaginationError(
        f"more than {max_pages} pages; stopping (the server never reported a last page)",
        method="GET",
        path=path,
    )


def _signature(results: list[Any]) -> tuple[Any, ...]:
    ids = [item.get("id") if isinstance(item, dict) else None for item in results]
    if all(ids):
        return tuple(ids)
    return tuple(repr(item) for item in results)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _next_params(
    body: dict[str, Any], params: dict[str, Any], results: list[Any], page_size: int, seen: int
) -> dict[str, Any] | None:
    """The query for the page after this one, or None when this was the last page."""
    count = _int(body.get("count"))
    if count is not None and seen >= count:
        return None
    page = _int(params.get("page")) or 1
    if "next" in body:
        link = body["next"]
        if not link:
            return None
        query = parse_qs(urlsplit(str(link)).query, keep_blank_values=True)
        if not query:
            return {**params, "page": page + 1}
        return {**params, **{k: v[0] if len(v) == 1 else v for k, v in query.items()}}
    info = body.get("page_info")
    if isinstance(info, dict):
        current = _int(info.get("current_page")) or page
        total = _int(info.get("total_pages"))
        if total is not None and current >= total:
            return None
        if len(results) < (_int(info.get("page_size")) or page_size):
            return None
        return {**params, "page": current + 1}
    if len(results) < page_size:
        return None
    return {**params, "page": page + 1}
