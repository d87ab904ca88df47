"""Statements built and compiled once, then bound to each call's values (PostgreSQL).

Django takes several times longer to build and compile a claim's querysets than PostgreSQL
takes to run them, and one claim differs from the next only in values (the time, the lease's
owner, which businesses). So :func:`prepared` builds a statement once per key, finds where its
values landed among the parameters, and puts each later call's values there. Elsewhere it builds
every time: other databases change the text with a value (a list's length) or convert values
before binding (SQLite's datetimes).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

from django.db import connections

from .sql import features

#: Statements kept, at most (a few per set of paused models and businesses in practice).
LIMIT = 64
_kept: OrderedDict[Hashable, tuple[str, list, dict[int, str]]] = OrderedDict()
_lock = threading.Lock()


def prepared(
    using: str,
    key: Hashable,
    build: Callable[[dict[str, Any]], tuple[str, list]],
    values: dict[str, Any],
) -> tuple[str, list]:
    """``build(values)``: a statement's SQL and params, built once per ``key`` where the
    database has arrays (PostgreSQL) and then bound to each call's ``values``. Whatever Django
    writes into the text rather than a parameter (a slice's LIMIT, a list's length) belongs in
    ``key``; a value that does not become a parameter is refused at once."""
    can = features(connections[using])
    if not can.arrays:
        return build(values)
    full_key = (using, can, key)
    with _lock:
        entry = _kept.get(full_key)
        if entry is not None:
            _kept.move_to_end(full_key)
    if entry is None:
        entry = _build(key, build, values)
        with _lock:
            _kept[full_key] = entry
            if len(_kept) > LIMIT:
                _kept.popitem(last=False)
    sql, params, slots = entry
    bound = list(params)
    for index, name in slots.items():
        # An integer goes in as the stand-in went (psycopg's Int2 for a small integer column).
        value = values[name]
        bound[index] = type(params[index])(value) if isinstance(value, int) else value
    return sql, bound


def _build(key: Hashable, build: Callable, values: dict[str, Any]) -> tuple[str, list, dict]:
    """Build twice, with two sets of stand-ins: a parameter is a value's slot where it holds
    that value's stand-in in both builds. A constant of the statement that happens to equal a
    stand-in (a paused business's id) is the same in both, so it is never taken for a slot."""
    first = {name: _stand_in(value, n, 0) for n, (name, value) in enumerate(values.items())}
    second = {name: _stand_in(value, n, 1) for n, (name, value) in enumerate(values.items())}
    sql, params = build(first)
    sql_again, params_again = build(second)
    if sql != sql_again or len(params) != len(params_again):
        raise ValueError(f"A value changes the text of {key!r}: put it in the key.")
    slots = {
        index: name
        for index, (one, two) in enumerate(zip(params, params_again, strict=True))
        for name in values
        if _holds(one, first[name]) and _holds(two, second[name])
    }
    unbound = set(values) - set(slots.values())
    if unbound:
        raise ValueError(f"{sorted(unbound)} did not become parameters of {key!r}.")
    return sql, list(params), slots


def _holds(param: Any, stand_in: Any) -> bool:
    return isinstance(param, type(stand_in)) and param == stand_in


def _stand_in(value: Any, n: int, build: int) -> Any:
    """A value of ``value``'s type for the ``n``-th value of build ``build`` (0 or 1)."""
    if isinstance(value, dt.datetime):
        return dt.datetime(1900 + build, 1, 1, tzinfo=value.tzinfo) + dt.timedelta(seconds=n)
    if isinstance(value, str):
        return f"\x1fstand-in {build}.{n}"
    # Within a small positive integer column's range: Django drops a lookup it cannot match.
    if isinstance(value, int) and not isinstance(value, bool):
        return 30000 + 1000 * build + n
    if isinstance(value, list):
        return [30000 + 1000 * build + n]
    raise TypeError(f"No stand-in for a {type(value).__name__}.")
