"""Reading Thredfi back: the status and amounts of what we pushed, as Thredfi holds them now.

Thredfi documents no webhooks (digest §7): a payment recorded in Thredfi's own app reaches us
only when we look. A pull pages each business's invoices, payments, bills and customer credits,
matches every record to its sync-state row by Thredfi ID or external_id, and stores what Thredfi
says on the row (``remote_status``, the amounts, ``remote_updated_at``, ``remote_checked_at``).
A row whose status or amounts changed sends :data:`~thredfi_django.signals.remote_changed` once
the new values are committed.

None of these four lists documents a "changed since" filter or an ordering (§3.3-3.5, §6; payments
come newest first by default), so a pull reads at most ``PULL_MAX_PAGES`` pages of each. A
business's first pull, and ``full=True``, read every page. The time of a business's last pull is
kept in the token cache (``TOKEN_CACHE``, as the pauses are): losing it costs one full read, and
a table would hold nothing else.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from typing import Any

from django.core.cache import caches
from django.db import router, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from ..client import get_client
from ..client.pagination import PAGE_SIZE
from ..conf import thredfi_settings
from ..exceptions import ThredfiError
from ..models import SyncState, host_model
from ..signals import remote_changed
from .pauses import CREDENTIALS, all_pauses, paused_business_ids

logger = logging.getLogger("thredfi_django.sync")

#: resource -> (BusinessScope attribute, keys of the amount due, keys of the amount paid); the
#: first key a record carries wins. Invoice and bill amounts are not named in the stored docs
#: (the examples are cut short); these are the widget's "outstanding balance" and the fake's.
#: For a credit, "paid" is what was applied to invoices; "due", what is left to apply.
COLLECTIONS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "invoice": ("invoices", ("outstanding_balance", "amount_due"), ("paid_amount", "amount_paid")),
    "payment": ("payments", (), ("total_amount_cents", "total_amount")),
    "bill": ("bills", ("outstanding_balance", "amount_due"), ("paid_amount", "amount_paid")),
    "customer_credit": ("customer_credits", (), ("applied_amount",)),
}
#: The fields whose change sends ``remote_changed``.
WATCHED = ("remote_status", "remote_amount_due_cents", "remote_amount_paid_cents")
STORED = (*WATCHED, "remote_updated_at", "remote_checked_at")
_LAST_PULL = "thredfi_django:last_pull:{}"


@dataclass
class Change:
    state: SyncState
    remote: dict[str, Any]
    changed: dict[str, tuple[Any, Any]]


@dataclass
class PullResult:
    """What one business's pull did: records read, rows matched, rows changed, or the error."""

    business: SyncState
    full: bool = False
    read: int = 0
    matched: int = 0
    changed: int = 0
    error: ThredfiError | None = None


def last_pull(business_id: int) -> datetime | None:
    """When ``business_id`` (a sync-state id) was last pulled, or None."""
    value = caches[thredfi_settings.TOKEN_CACHE].get(_LAST_PULL.format(business_id))
    return parse_datetime(value) if value else None


def pull(business_ids: Iterable[int] | None = None, *, full: bool = False) -> list[PullResult]:
    """Pull every business in Thredfi (or those of ``business_ids``), skipping paused ones.

    A business Thredfi refuses is reported in its result and the others still run."""
    pauses = all_pauses()
    businesses = SyncState.objects.filter(resource="business", remote_id__isnull=False)
    if business_ids is not None:
        businesses = businesses.filter(pk__in=list(business_ids))
    if CREDENTIALS in pauses:
        logger.info("Thredfi pull skipped: pushes are paused (%s).", pauses[CREDENTIALS]["reason"])
        return []
    paused = set(paused_business_ids())
    return [
        pull_business(business, full=full)
        for business in businesses.order_by("pk")
        if business.pk not in paused
    ]


def pull_business(business: SyncState, *, full: bool = False) -> PullResult:
    """Read one business's collections and store what changed (see the module docstring)."""
    started = timezone.now()
    result = PullResult(business, full=full or last_pull(business.pk) is None)
    scope = get_client().business(str(business.remote_id))
    try:
        for resource, (attr, _due, _paid) in COLLECTIONS.items():
            records: Iterator[dict[str, Any]] = getattr(scope, attr).list()
            if not result.full:
                records = islice(records, thredfi_settings.PULL_MAX_PAGES * PAGE_SIZE)
            for page in _pages(records):
                result.read += len(page)
                matched, changed = _store(business, resource, page, started)
                result.matched += matched
                result.changed += changed
    except ThredfiError as err:
        logger.warning("Thredfi pull of business %s failed: %s", business.remote_id, err)
        result.error = err
        return result
    caches[thredfi_settings.TOKEN_CACHE].set(
        _LAST_PULL.format(business.pk), started.isoformat(), timeout=None
    )
    return result


def _pages(records: Iterator[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    while page := list(islice(records, PAGE_SIZE)):
        yield page


def _store(
    business: SyncState, resource: str, records: list[dict[str, Any]], now: datetime
) -> tuple[int, int]:
    """Store one page's records on their rows; returns (rows matched, rows changed)."""
    by_id, by_external_id = {}, {}
    for record in records:
        if not isinstance(record, dict):
            continue
        try:
            by_id[uuid.UUID(str(record.get("id")))] = record
        except ValueError:
            pass
        if record.get("external_id"):
            by_external_id[str(record["external_id"])] = record
    states = list(
        SyncState.objects.filter(business=business, resource=resource).filter(
            Q(remote_id__in=list(by_id)) | Q(external_id__in=list(by_external_id))
        )
    )
    changes = []
    for state in states:
        record = by_id.get(state.remote_id) or by_external_id[state.external_id]
        values = remote_values(resource, record)
        changed = {
            name: (getattr(state, name), values[name])
            for name in WATCHED
            if getattr(state, name) != values[name]
        }
        for name, value in values.items():
            setattr(state, name, value)
        state.remote_checked_at = now
        if changed:
            changes.append(Change(state, record, changed))
    using = router.db_for_write(SyncState)
    with transaction.atomic(using=using):
        SyncState.objects.using(using).bulk_update(states, STORED)
        if changes:
            transaction.on_commit(lambda: announce(changes), using=using)
    return len(states), len(changes)


def remote_values(resource: str, record: dict[str, Any]) -> dict[str, Any]:
    """The sync-state fields ``record`` gives: status (lower case: the docs show both ``SENT`` and
    ``sent``), cents due and paid, and its ``updated_at``."""
    _attr, due_keys, paid_keys = COLLECTIONS[resource]
    due = _cents(record, due_keys)
    paid = _cents(record, paid_keys)
    if resource == "customer_credit" and paid is not None:
        total = _cents(record, ("total_amount",))
        due = None if total is None else total - paid
    try:
        updated = parse_datetime(str(record.get("updated_at") or ""))
    except ValueError:  # well formed but impossible, e.g. month 13
        updated = None
    return {
        "remote_status": str(record.get("status") or "").lower()[:32],
        "remote_amount_due_cents": due,
        "remote_amount_paid_cents": paid,
        "remote_updated_at": updated,
    }


def _cents(record: dict[str, Any], keys: tuple[str, ...]) -> int | None:
    for key in keys:
        value = record.get(key)
        if value is not None:
            try:
                return int(value)
            except (TypeError, ValueError):
                return None
    return None


def announce(changes: list[Change]) -> None:
    """Send ``remote_changed`` for each change, with the host objects loaded in one query per
    model."""
    wanted: dict[int, list[str]] = {}
    for change in changes:
        wanted.setdefault(change.state.content_type_id, []).append(change.state.object_id)
    instances: dict[tuple[int, str], Any] = {}
    for content_type_id, object_ids in wanted.items():
        model = host_model(content_type_id)
        if model is not None:
            for obj in model._default_manager.filter(pk__in=object_ids):
                instances[(content_type_id, str(obj.pk))] = obj
    for change in changes:
        state = change.state
        remote_changed.send(
            sender=host_model(state.content_type_id),
            instance=instances.get((state.content_type_id, state.object_id)),
            state=state,
            remote=change.remote,
            changed=change.changed,
        )
