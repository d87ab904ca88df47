"""What a host transaction asks for once it commits: one wake-up, however many changes it held.

Each transaction that records or marks anything registers one :class:`TransactionChanges` as its
``on_commit`` callback. It collects the sync-state ids to hand over and whether host rows were
marked, and remembers which objects it already recorded, so that saving fifty lines of one
invoice marks the invoice once: the engine compares committed versions, and one change per
transaction is all it needs to see. A rolled-back transaction drops the callback and with it
every request; nothing is published for a change that never happened.
"""

from __future__ import annotations

from django.db import connections, transaction

from . import wake


class TransactionChanges:
    """The on_commit callback of one transaction (see the module docstring)."""

    def __init__(self, using: str):
        self.using = using
        self.ids: list[int] = []
        self.drain = False
        #: (model label, pk) -> savepoint ids active when it was recorded
        self.marked: dict[tuple[str, str], tuple[str, ...]] = {}
        self.sent = False

    def __call__(self) -> None:
        self.sent = True
        wake.enqueue(self.ids)
        if self.drain:
            wake.wake()

    def already_marked(self, key: tuple[str, str], savepoint_ids: list[str]) -> bool:
        """Was ``key`` recorded in a savepoint that is still alive?"""
        recorded_in = self.marked.get(key)
        if recorded_in is None:
            return False
        # A rolled-back savepoint is gone from the connection's list: then the change is too.
        return tuple(savepoint_ids[: len(recorded_in)]) == recorded_in


def transaction_changes(using: str) -> TransactionChanges | None:
    """This transaction's changes, if its callback is still registered (a rolled-back
    savepoint drops the callback, and with it the changes)."""
    for _sids, func, *_rest in reversed(connections[using].run_on_commit):
        if isinstance(func, TransactionChanges) and not func.sent:
            return func
    return None


def _registered(using: str) -> TransactionChanges:
    changes = transaction_changes(using)
    if changes is None:
        changes = TransactionChanges(using)
        transaction.on_commit(changes, using=using)
    return changes


def schedule_enqueue(
    using: str, state_id: int, key: tuple[str, str] | None = None, *, publish: bool = True
) -> None:
    """After commit, hand ``state_id`` over (when ``publish``: the row just became pending; a
    row that was pending or in progress already has a push coming, which reads the latest
    version). ``key`` is remembered for the transaction."""
    connection = connections[using]
    if not connection.in_atomic_block:
        if publish:
            wake.enqueue([state_id])
        return
    changes = _registered(using)
    if publish and state_id not in changes.ids:
        changes.ids.append(state_id)
    if key is not None:
        changes.marked[key] = tuple(connection.savepoint_ids)


def schedule_drain(using: str, key: tuple[str, str]) -> None:
    """After commit, wake a drain for a host row just marked; ``key`` is remembered."""
    connection = connections[using]
    if not connection.in_atomic_block:
        wake.request_drain(using=using)
        return
    changes = _registered(using)
    changes.drain = True
    changes.marked[key] = tuple(connection.savepoint_ids)
