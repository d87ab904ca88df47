"""Pushing a claimed batch of rows together (what a drain does with each batch).

First version: every row through the one-row :class:`~thredfi_django.push.Push`, in dependency
order, under the batch's lease.
"""

from __future__ import annotations

from django.utils import timezone

from .models import SyncState
from .push import Push, SyncResult

#: Resources a batch pushes first (their dependents may be in the same batch).
_RANK = {
    "business": 0,
    "customer": 1,
    "vendor": 1,
    "invoice": 2,
    "bill": 2,
    "payment": 3,
    "bill_payment": 3,
    "refund": 3,
    "refund_payment": 4,
}


def push_batch(claimed: list[tuple[str, SyncState]], worker: str) -> list[SyncResult]:
    """Push claimed (token, row) pairs; returns one result per row."""
    ordered = sorted(claimed, key=lambda pair: (_RANK.get(pair[1].resource, 9), pair[1].pk))
    results = []
    for token, state in ordered:
        results.append(Push(state, token, worker, timezone.now(), 0).run())
    return results
