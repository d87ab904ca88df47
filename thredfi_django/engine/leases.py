"""Who may push a sync-state row right now: a time-limited lease, taken by compare-and-set and
renewed while its holder works.

A claim is one ``UPDATE … RETURNING`` that only matches rows nobody holds (no lease, or an
expired one) and that are due; each claim gets its own owner token, so two threads of one worker
never mistake each other's lease for their own. A dead worker's leases simply run out, and any
drain (or the sweep) hands the rows out again.

A live worker never lets a lease run out under a request: :class:`LeaseKeeper` renews every
lease it holds each ``LEASE_SECONDS / 3`` while it pushes, and a request is sent only while its
row's lease has at least that long to go. So ``LEASE_SECONDS`` is only how long a dead worker's
rows wait, not a bound on how slow Thredfi may be.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections import Counter

from django.db import connections, router
from django.db.models import Case, Count, F, OuterRef, Q, QuerySet, Subquery, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from ..conf import thredfi_settings
from ..models import OWNER, WORK_TO_DO, SyncAttempt, SyncState, SyncStatus
from ..prepared import prepared
from ..sql import (
    features,
    group_heads,
    returned,
    subquery_sql,
    take_turns,
    update_returning_sql,
)

CLAIMABLE = (SyncStatus.PENDING, SyncStatus.IN_PROGRESS)

#: What a row whose lease expired under a push records: the retry looks the record up first.
LEASE_EXPIRED = "lease_expired"


def claimable(now: dt.datetime) -> Q:
    """Rows a worker may take now: pending (or in progress with an expired lease) and due."""
    return (
        Q(status__in=CLAIMABLE)
        & (Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
    )


def expired_mark() -> Case:
    """``last_error_kind`` for a row being taken over: a row still in progress had a push
    that never ended (its worker died), which may have created the record already."""
    return Case(
        When(status=SyncStatus.IN_PROGRESS, then=Value(LEASE_EXPIRED)),
        default=F("last_error_kind"),
        output_field=SyncState._meta.get_field("last_error_kind"),
    )


def claim(
    worker: str,
    limit: int,
    *,
    state_id: int | None = None,
    exclude_content_types: list[int] | tuple[int, ...] = (),
    exclude_businesses: list[int] | tuple[int, ...] = (),
    now: dt.datetime | None = None,
) -> list[tuple[str, SyncState]]:
    """Claim up to ``limit`` due rows (or the one row ``state_id``) under one new owner token:
    live work before backfill, and within a lane the businesses take turns, so one tenant's
    20,000-row re-sync never holds back another's rows. Returns (token, row) pairs, each row
    with ``attempts_recorded`` (how many attempt rows it has).

    Each round finds the businesses with due rows in the first lane that has any (oldest
    first) and takes an equal share of each one's oldest rows; a business with fewer rows than
    its share leaves the rest to the next round, so the batch still fills up. A round that
    saw every due business and left each short of its share is the last: nothing more is due."""
    now = now or timezone.now()
    token = f"{worker or 'local'}/{uuid.uuid4().hex[:8]}"[-100:]
    lease = {
        "now": now,
        "lease_until": now + dt.timedelta(seconds=float(thredfi_settings.LEASE_SECONDS)),
        "token": token,
    }
    statements = _Statements(
        tuple(sorted(set(exclude_content_types))), tuple(sorted(set(exclude_businesses)))
    )
    if state_id is not None:
        one = statements.take(lease, None, ("one",), {"state_id": state_id}, _one)
        return [(token, state) for state in one]
    claimed: list[SyncState] = []
    missed: set[int] = set()  # lanes where a round took nothing
    after_lane = None  # lanes up to this one are passed over (see below)
    while len(claimed) < limit:
        want = limit - len(claimed)
        # A paused business is passed over here, not in the query: there it would be read
        # to its last row to find none.
        asked = want + len(exclude_businesses)
        listed = statements.heads(now, after_lane, asked)
        heads = [(lane, owner) for lane, owner in listed if owner not in exclude_businesses]
        if not heads:
            break
        lane = heads[0][0]
        in_lane = [owner for head_lane, owner in heads if head_lane == lane]
        owners = in_lane[:want]
        share = -(-want // len(owners))
        # Every due business of the only lane listed, all of it: if each one then falls short
        # of its share, nothing more is due and another round would only find that out.
        last_round = len(listed) < asked and len(in_lane) == len(heads) <= want
        taken = statements.take(
            lease,
            after_lane,
            ("turns",),
            {"lane": lane, "owners": owners, "share": share, "limit": want},
            lambda rows, v: take_turns(
                rows.filter(lane=v["lane"]), "owner", v["owners"], v["share"], v["limit"]
            ),
        )
        if not taken:
            # Other claims took the rows listed: look at this lane once more, then go on to
            # the next one (rows another claim still holds look due until it commits).
            if lane in missed:
                after_lane = lane
            missed.add(lane)
        claimed += taken
        taken_per_owner = Counter(state.business_id or state.pk for state in taken)
        if taken and last_round and all(taken_per_owner[o] < share for o in owners):
            break
    return [(token, state) for state in sorted(claimed, key=lambda s: s.pk)]


def _one(rows: QuerySet, values: dict) -> tuple[str, list]:
    return subquery_sql(rows.filter(pk=values["state_id"]).values("pk"), skip_locked=True)


class _Statements:
    """The statements of one claim: which rows are due, which businesses have some, and the
    lease of the rows chosen. Each is built and compiled once per shape and process
    (``prepared``); a claim binds its own time, token and businesses. They run where SyncState
    is written: a claim must see the rows as they are, not as a replica last heard of them."""

    def __init__(self, exclude_content_types: tuple, exclude_businesses: tuple):
        self.excluded = (exclude_content_types, exclude_businesses)

    def due(self, now: dt.datetime, after_lane: int | None) -> tuple[QuerySet, QuerySet]:
        """The rows due now (less the paused models), and of those the rows a claim may take
        (less the paused businesses), in the lanes after ``after_lane``."""
        exclude_content_types, exclude_businesses = self.excluded
        due = SyncState.objects.using(_using()).filter(claimable(now)).annotate(owner=OWNER)
        due = due.exclude(content_type_id__in=exclude_content_types)
        if after_lane is not None:
            due = due.filter(lane__gt=after_lane)
        rows = due.exclude(owner__in=exclude_businesses) if exclude_businesses else due
        return due, rows

    def heads(self, now: dt.datetime, after_lane: int | None, limit: int) -> list:
        """The (lane, business) pairs with due rows, oldest first (``sql.group_heads``)."""

        def build(values: dict) -> tuple[str, list]:
            scan = SyncState.objects.using(_using()).filter(WORK_TO_DO).annotate(owner=OWNER)
            if after_lane is not None:
                scan = scan.filter(lane__gt=after_lane)
            due, _rows = self.due(values["now"], after_lane)
            return group_heads(scan, due, "lane", "owner", values["limit"])

        key = ("heads", self.excluded[0], after_lane)  # paused businesses are left out later
        statement = prepared(_using(), key, build, {"now": now, "limit": limit})
        with _connection().cursor() as cursor:
            cursor.execute(*statement)
            return [(row[0], row[1]) for row in cursor.fetchall()]

    def take(
        self, lease: dict, after_lane: int | None, key: tuple, values: dict, among
    ) -> list[SyncState]:
        """Lease the rows that ``among(rows, values)`` (SQL of pks among the rows a claim may
        take) selects, each with ``attempts_recorded``. ``key``: the shape of ``among``."""
        now = lease["now"]

        def update(bound: dict) -> dict:
            return {
                "status": SyncStatus.IN_PROGRESS,
                "lease_until": bound["lease_until"],
                "lease_owner": bound["token"],
                "updated_at": bound["now"],
                "last_error_kind": expired_mark(),
            }

        if not features(_connection()).returning:
            _due, rows = self.due(now, after_lane)
            with _connection().cursor() as cursor:
                cursor.execute(*among(rows, values))
                ids = [pk for (pk,) in cursor.fetchall()]
            due = SyncState.objects.using(_using()).filter(claimable(now))
            mine = [pk for pk in ids if due.filter(pk=pk).update(**update(lease))]
            states = SyncState.objects.using(_using()).annotate(attempts_recorded=attempt_count())
            return list(states.filter(pk__in=mine))

        def build(bound: dict) -> tuple[str, list]:
            _due, rows = self.due(bound["now"], after_lane)
            return update_returning_sql(
                SyncState.objects.using(_using()).filter(claimable(bound["now"])),
                update(bound),
                among=among(rows, bound),
                extra_returning=[_attempt_count_sql()],
            )

        key = ("take", self.excluded, after_lane, *key)
        statement = prepared(_using(), key, build, {**lease, **values})
        states = returned(SyncState, _using(), statement)
        for state in states:
            state.attempts_recorded = state.extra[0]
        return states


def attempt_count() -> Coalesce:
    """How many attempt rows the row has (an annotation for a SyncState queryset)."""
    recorded = (
        SyncAttempt.objects.filter(state=OuterRef("pk"))
        .order_by()
        .values("state")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(recorded), 0)


def _attempt_count_sql() -> str:
    qn = _connection().ops.quote_name
    attempts = qn(SyncAttempt._meta.db_table)
    state_column = qn(SyncAttempt._meta.get_field("state").column)
    table = qn(SyncState._meta.db_table)
    return f"(SELECT COUNT(*) FROM {attempts} a WHERE a.{state_column} = {table}.{qn('id')})"  # noqa: S608


def _using() -> str:
    return router.db_for_write(SyncState) or "default"


def _connection():
    return connections[_using()]


class LeaseKeeper:
    """The leases one worker holds while it pushes, renewed before they run short.

    Only the worker's own thread calls :meth:`hold`, :meth:`drop` and :meth:`renew_if_due`
    (it alone touches the database); the sending threads only ask :meth:`allows_sending`.
    """

    def __init__(self) -> None:
        self.length = float(thredfi_settings.LEASE_SECONDS)
        self._held: dict[str, set[int]] = {}
        self._until: dict[str, float] = {}  # token -> monotonic time its lease ends

    @property
    def margin(self) -> float:
        """How long a lease must still have to go for a request to be sent under it."""
        return self.length / 3

    def hold(self, token: str, ids: list[int]) -> None:
        """Keep the leases of ``ids`` (just claimed under ``token``)."""
        self._held.setdefault(token, set()).update(ids)
        self._until.setdefault(token, time.monotonic() + self.length)

    def drop(self, token: str, ids: list[int]) -> None:
        """Stop renewing ``ids`` (released)."""
        held = self._held.get(token)
        if held is None:
            return
        held.difference_update(ids)
        if not held:
            del self._held[token]
            self._until.pop(token, None)

    def allows_sending(self, token: str) -> bool:
        until = self._until.get(token)
        return until is not None and until - time.monotonic() >= self.margin

    def renew_if_due(self) -> None:
        """Renew every lease held, if any would have less than twice the margin to go."""
        now = time.monotonic()
        if not self._held or min(self._until.values()) - now > 2 * self.margin:
            return
        until = timezone.now() + dt.timedelta(seconds=self.length)
        for token, ids in list(self._held.items()):
            renewed = SyncState.objects.filter(
                pk__in=ids, lease_owner=token, status=SyncStatus.IN_PROGRESS
            ).update(lease_until=until)
            if renewed == len(ids):
                self._until[token] = now + self.length
            else:  # another worker has some of them: send nothing more under this token
                self._until[token] = now
