"""Ledger accounts: each business's chart of accounts (cached) and the account of each line.

A line names its ledger account by code ("4000"): the line model's ``account_code`` (a field,
a ``get_thredfi_account_code()`` method, or ``thredfi_field_map``), else
``THREDFI['ACCOUNT_CODES']`` for its parent (invoice or bill). The code must be in the
business's chart of accounts, so an unknown code fails here, naming the code and the business,
before a request is spent on the invoice or bill. ``THREDFI['LINE_SCHEMA']`` decides what a
line carries: ``account_code`` ("guide") or ``account_identifier`` with the account's id
("reference").

The chart is read once per business per ``CHART_CACHE_SECONDS``: kept in this process (a push
looks codes up twice; a Redis round trip each would cost more than the rest of building the
body) and in the Django cache (shared by the workers). A code missing from a cached chart is
looked up once more in Thredfi before it is refused: an account created since is found.

Planning a wave runs row after row on the worker's one database thread (see
:func:`one_look_per_wave`): there a chart is read at most twice running without success (a blip
is over by the second read) and a missing code looked up once more at most once, whatever the
number of rows. A chart that hangs, or a code every row names, would otherwise cost each row a
read.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from django.core.cache import caches
from django.core.signals import setting_changed

from .client import get_client
from .conf import thredfi_settings
from .exceptions import ThredfiLocalValidationError

#: What is kept of each ledger account (the list also carries balances, which go stale).
ACCOUNT_KEYS = ("id", "code", "name", "account_type", "account_subtype", "is_active")

_lock = threading.Lock()
#: cache key -> (monotonic expiry, {code: account}): this process's copies.
_charts: dict[str, tuple[float, dict[str, dict[str, Any]]]] = {}


@dataclass
class _Wave:
    """What the planning of one wave learnt: failed reads (cache key -> last error and how
    many since the last success) and codes a fresh read still lacked ((cache key, code))."""

    failures: dict[str, tuple[Exception, int]] = field(default_factory=dict)
    refused: set[tuple[str, str]] = field(default_factory=set)


_wave: ContextVar[_Wave | None] = ContextVar("thredfi_ledger_wave", default=None)


@contextmanager
def one_look_per_wave() -> Iterator[None]:
    """While a wave is planned: a chart that failed twice running is not read again (its rows
    get the same error, which decides when they are tried again), and a code a fresh read
    lacked is refused without another. Outside (admin, commands) every call asks. It is this
    thread's: reads on other threads report their failures with :func:`read_failed`. A nested
    wave (a dependency pushed inline) keeps the outer one."""
    if _wave.get() is not None:
        yield
        return
    token = _wave.set(_Wave())
    try:
        yield
    finally:
        _wave.reset(token)


def cache_key(business_id: str) -> str:
    """One key per API host and business (sandbox and production charts never mix)."""
    return f"thredfi:chart:{thredfi_settings.base_url}:{business_id}"


def chart(business_id: str, *, fresh: bool = False) -> dict[str, dict[str, Any]]:
    """``{code: account}`` of one business (its remote id): this process's copy, else the
    Django cache's, else one paged read from Thredfi (always, with ``fresh=True``)."""
    key = cache_key(business_id)
    if not fresh and (accounts := _local(key)) is not None:
        return accounts
    cache = caches[thredfi_settings.TOKEN_CACHE]
    accounts = None if fresh else cache.get(key)
    if accounts is None:
        accounts = _read(business_id, key)
        cache.set(key, accounts, thredfi_settings.CHART_CACHE_SECONDS)
    _keep_local({key: accounts})
    return accounts


def _read(business_id: str, key: str) -> dict[str, dict[str, Any]]:
    """One paged read of the chart from Thredfi, unless it failed twice in this wave."""
    wave = _wave.get()
    error, failures = wave.failures.get(key, (None, 0)) if wave is not None else (None, 0)
    if error is not None and failures >= 2:
        again = copy.copy(error)  # each row its own, with its own traceback
        again.args = error.args
        raise again
    try:
        accounts = {
            str(record["code"]): {name: record.get(name) for name in ACCOUNT_KEYS}
            for record in get_client().business(business_id).accounts.list()
            if isinstance(record, dict) and record.get("code") not in (None, "")
        }
    except Exception as err:
        read_failed(business_id, err)
        raise
    if wave is not None:
        wave.failures.pop(key, None)
    return accounts


def read_failed(business_id: str, error: Exception) -> None:
    """Count a failed read of the chart of ``business_id`` in this thread's wave, if any."""
    wave, key = _wave.get(), cache_key(business_id)
    if wave is not None:
        failures = wave.failures.get(key, (None, 0))[1]
        wave.failures[key] = (error, failures + 1)


def charts_to_read(objects: Iterable[Any]) -> list[str]:
    """The businesses (remote ids) whose chart pushing ``objects`` will read from Thredfi:
    those of objects whose resource has a default code in ACCOUNT_CODES (every line then names
    one), less the charts this process or the Django cache holds (copied here, in one round
    trip). Lets a pipeline read them several at once instead of one per business in turn."""
    defaults = thredfi_settings.ACCOUNT_CODES
    wanted = {
        business_id
        for obj in objects
        if defaults.get(getattr(obj, "thredfi_resource", None))
        and (business_id := _business(obj)[1]) is not None
    }
    missing = {key: b for b in wanted if _local(key := cache_key(b)) is None}
    if not missing:
        return []
    shared = caches[thredfi_settings.TOKEN_CACHE].get_many(list(missing))
    _keep_local(shared)
    return sorted(business_id for key, business_id in missing.items() if key not in shared)


def _local(key: str) -> dict[str, dict[str, Any]] | None:
    """This process's unexpired copy of the chart under ``key``, if any."""
    with _lock:
        kept = _charts.get(key)
    return kept[1] if kept is not None and kept[0] > time.monotonic() else None


def _keep_local(charts: dict[str, dict[str, dict[str, Any]]]) -> None:
    """Keep copies of ``charts`` ({cache key: chart}) in this process for CHART_CACHE_SECONDS."""
    until = time.monotonic() + thredfi_settings.CHART_CACHE_SECONDS
    with _lock:
        _charts.update({key: (until, accounts) for key, accounts in charts.items()})


def forget(business_id: str) -> None:
    """Drop the cached chart of a business (after creating an account in it)."""
    key = cache_key(business_id)
    with _lock:
        _charts.pop(key, None)
    caches[thredfi_settings.TOKEN_CACHE].delete(key)


def forget_all(**kwargs: Any) -> None:
    """Drop this process's copies of every chart (the Django cache is left alone)."""
    with _lock:
        _charts.clear()


setting_changed.connect(forget_all, dispatch_uid="thredfi_django.ledger.forget_all")


def _account(business_id: str, code: str) -> dict[str, Any] | None:
    """The account with ``code``, looking in Thredfi once more when the cached chart lacks it
    (once a wave: see :func:`one_look_per_wave`)."""
    account = chart(business_id).get(code)
    if account is not None:
        return account
    wave, refused = _wave.get(), (cache_key(business_id), code)
    if wave is not None and refused in wave.refused:
        return None
    account = chart(business_id, fresh=True).get(code)
    if account is None and wave is not None:
        wave.refused.add(refused)
    return account


def account_code(parent_resource: str, line: Any) -> str | None:
    """The ledger account code of ``line``: its own, else the default for its parent."""
    code = line.get_thredfi_value("account_code")
    if code in (None, ""):
        code = thredfi_settings.ACCOUNT_CODES.get(parent_resource)
    return str(code).strip() if code not in (None, "") else None


def _business(owner: Any) -> tuple[Any, str | None]:
    """The owner's business and its Thredfi ID (None before it was pushed)."""
    business = owner.get_thredfi_business()
    return business, str(business.thredfi_id) if business and business.thredfi_id else None


def _not_in_chart(code: str, business: Any, business_id: str) -> str:
    return (
        f"{code!r} is not in the chart of accounts of business {business} "
        f"({business_id}). Use one of its codes, or create the account "
        "(manage.py thredfi_accounts --create-missing)."
    )


def line_accounts(parent: Any, lines: list[Any], schema: str | None = None) -> list[dict[str, Any]]:
    """The account field of each line of ``parent``, per ``schema`` (default ``LINE_SCHEMA``).

    ``[{"account_code": "4000"}, ...]`` or ``[{"account_identifier": {"type": "AccountId",
    "id": ...}}, ...]``. Raises ThredfiLocalValidationError naming every line whose code is not
    in the business's chart. Before the business has a Thredfi ID its chart cannot be read: the
    "guide" codes are then returned unchecked (the push checks them once the business exists),
    and the "reference" schema, which needs the ids, is an error.
    """
    resource = parent.thredfi_resource
    codes = [account_code(resource, line) for line in lines]
    reference = (schema or thredfi_settings.LINE_SCHEMA) == "reference"
    business, business_id = _business(parent)
    if business_id is None:
        if reference and any(codes):
            raise ThredfiLocalValidationError(
                f"This {resource}'s lines need ledger account ids, which can only be looked up "
                "once its business is in Thredfi.",
                {"business": ["Push the business to Thredfi first."]},
            )
        return [{"account_code": code} if code else {} for code in codes]
    errors: dict[str, list[str]] = {}
    fields = []
    for n, code in enumerate(codes):
        if not code:
            fields.append({})
            continue
        account = _account(business_id, code)
        if account is None:
            message = f"Line {n + 1}: account code {_not_in_chart(code, business, business_id)}"
            errors[f"line_items[{n}].account_code"] = [message]
        elif reference:
            fields.append({"account_identifier": {"type": "AccountId", "id": account["id"]}})
        else:
            fields.append({"account_code": code})
    if errors:
        raise ThredfiLocalValidationError(
            f"This {resource} names ledger accounts that business {business} does not have.",
            errors,
        )
    return fields


def object_account(obj: Any) -> dict[str, Any] | None:
    """``{"type": "AccountId", "id": ...}`` for an object naming one account (a write-off's
    destination): its ``account_code``, else ``ACCOUNT_CODES[resource]``; None when neither."""
    code = account_code(obj.thredfi_resource, obj)
    if code is None:
        return None
    business, business_id = _business(obj)
    if business_id is None:
        raise ThredfiLocalValidationError(
            f"This {obj.thredfi_resource.replace('_', ' ')} names ledger account {code!r}, "
            "whose id can only be looked up once its business is in Thredfi.",
            {"business": ["Push the business to Thredfi first."]},
        )
    account = _account(business_id, code)
    if account is None:
        raise ThredfiLocalValidationError(
            f"Business {business} has no ledger account {code!r}.",
            {"account_code": [f"Account code {_not_in_chart(code, business, business_id)}"]},
        )
    return {"type": "AccountId", "id": account["id"]}
