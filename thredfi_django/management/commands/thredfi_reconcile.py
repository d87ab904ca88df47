"""``manage.py thredfi_reconcile``: compare what Thredfi holds with what we think we sent.

For each business: page through every remote collection we push to that has a list (all but
write-offs), match the records to the local sync-state rows by external_id, and report drift
under that business:
- a local object whose Thredfi ID is missing although Thredfi has it (a create whose response was
  lost): repairable by adopting the remote id;
- a local object we believe is in Thredfi but is not there (or under another id);
- a remote record carrying our external_id namespace with no local object;
- an amount that differs (integer cents on both sides);
- a customer or vendor whose details differ: Thredfi has no update for them, so a change after
  the first push stays local (the row is "outdated in Thredfi"; ``--fix`` flags it so the
  admin and thredfi_status show it, and clears the flag where Thredfi matches).
Objects not pushed yet and remote records of other origin are noted under their business, and
make a collection's counts differ without being drift.

Report only by default: reconciliation is how an operator finds out what went wrong, and its
repairs write IDs or re-push objects, so they should follow a look at the report. ``--fix``
adopts missing IDs and re-queues objects missing remotely or with a different amount (the local
object wins; external_ids keep re-creates idempotent). Remote records are never deleted.
Exits 1 while drift remains (after ``--fix``: drift it could not repair).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from thredfi_django.client import get_client
from thredfi_django.conf import thredfi_settings
from thredfi_django.engine.absorb import absorb_all
from thredfi_django.engine.plan import CLIENT_ATTR
from thredfi_django.exceptions import ThredfiError
from thredfi_django.models import SyncState
from thredfi_django.money import to_cents
from thredfi_django.payloads import FIELDS
from thredfi_django.recording.resync import request_sync

from ._businesses import add_business_argument, business_states

#: Host objects loaded per query when comparing amounts.
CHUNK = 2000
#: Remote collections compared per business, in this order: resource name -> client attribute
#: (the one the engine pushes through). Write-offs have no list; refund payments are listed per
#: refund (their path is under it).
COLLECTIONS = {
    resource: None if resource == "refund_payment" else CLIENT_ATTR[resource]
    for resource in (
        "customer", "invoice", "payment", "refund", "refund_payment", "vendor", "bill",
        "bill_payment", "payout", "customer_credit", "vendor_credit", "vendor_refund",
    )
}  # fmt: skip
#: Resources whose amount is compared (the local side from the payload we would send).
AMOUNT_FIELDS = {
    "invoice": None,  # the host's ``total``, else the lines
    "bill": None,
    "payment": "total_amount_cents",
    "refund": "amount_cents",
    "refund_payment": "amount_cents",
    "bill_payment": "amount_cents",
    "payout": "paid_out_amount_cents",
    "vendor_refund": "total_refunded_amount_cents",
}


#: Resources Thredfi cannot update: their details are compared field by field.
DETAIL_RESOURCES = ("customer", "vendor")


def detail_differences(instance: Any, record: dict[str, Any]) -> list[str]:
    """``field: Thredfi 'x', here 'y'`` for each documented field the two disagree on."""
    payload = instance.get_thredfi_payload()
    return [
        f"{name}: Thredfi {record.get(name)!r}, here {payload[name]!r}"
        for name in FIELDS[instance.thredfi_resource]
        if name in payload and payload[name] != record.get(name)
    ]


def remote_amount(resource: str, record: dict[str, Any]) -> int | None:
    """The amount in cents of a remote record (None when it carries none)."""
    keys = ("total_amount_cents", "total_amount", "amount_cents", "paid_out_amount_cents",
            "total_refunded_amount_cents")  # fmt: skip
    for key in keys:
        if record.get(key) is not None:
            return int(record[key])
    if resource in ("invoice", "bill") and record.get("line_items") is not None:
        return lines_total(record["line_items"])
    return None


def lines_total(lines: list[dict[str, Any]]) -> int:
    """Sum of quantity × unit price (in cents, under either schema's key), rounded half up."""
    total = sum(
        Decimal(str(line.get("quantity", 1)))
        * Decimal(str(line.get("unit_price", line.get("unit_price_cents", 0))))
        for line in lines
    )
    return to_cents(Decimal(total) / 100)


def local_amount(instance: Any) -> int | None:
    """The local object's amount in cents: its ``total`` (invoices, bills) or the payload's."""
    resource = instance.thredfi_resource
    if resource not in AMOUNT_FIELDS:
        return None
    field = AMOUNT_FIELDS[resource]
    if field is None:
        total = getattr(instance, "total", None)
        if total is not None:
            return to_cents(total)
        return lines_total(instance.get_thredfi_payload().get("line_items") or [])
    return instance.get_thredfi_payload().get(field)


@dataclass
class Drift:
    kind: str
    text: str
    state: SyncState | None = None
    remote_id: str | None = None
    repaired: bool = False


@dataclass
class Report:
    drift: list[Drift] = field(default_factory=list)


class Command(BaseCommand):
    help = (
        "Compare every Thredfi collection we push to (and the businesses) with the local "
        "objects by external_id, business by business; report missing IDs, objects missing on "
        "either side and amounts that differ. --fix repairs what it can. Exits 1 while drift "
        "remains."
    )

    def add_arguments(self, parser):
        add_business_argument(parser)
        parser.add_argument(
            "--fix", action="store_true",
            help="Adopt missing Thredfi IDs; re-queue objects missing remotely or whose "
            "amount differs (local wins). Never deletes anything in Thredfi.",
        )  # fmt: skip

    def handle(self, *args, business: str | None, fix: bool, **options):
        absorb_all()  # saves the drain has not taken in yet are "not pushed yet"

        self.fix = fix
        self.ours = (
            f"{thredfi_settings.EXTERNAL_ID_PREFIX}:{thredfi_settings.EXTERNAL_ID_NAMESPACE}:"
        )
        client = get_client()
        businesses = business_states(business)
        report = Report()
        try:
            self._businesses(client, list(businesses), report, only_these=bool(business))
            states = list(businesses.filter(remote_id__isnull=False))
            for n, state in enumerate(states, 1):  # the headings are the progress display
                self._business(client, state, report, f"[{n}/{len(states)}]")
        except ThredfiError as err:
            raise CommandError(f"Could not read from Thredfi: {err}") from err
        self._summary(report)

    # -- comparing ---------------------------------------------------------------------------

    def _businesses(self, client, states: list[SyncState], report: Report, only_these: bool):
        remote = {r.get("external_id"): r for r in client.businesses.list() if r.get("external_id")}
        before, notes = len(report.drift), []
        if not only_these:
            self._remote_only("business", remote, {s.external_id for s in states}, report, notes)
        self._compare("business", states, remote, report, notes)
        if report.drift[before:] or notes:
            self.stdout.write(self.style.MIGRATE_HEADING("Businesses"))
            self._write_drift(report.drift[before:])
            self._write_notes(notes)

    def _business(self, client, business: SyncState, report: Report, step: str) -> None:
        scope = client.business(str(business.remote_id))
        heading = f"{step} {business.label} ({business.remote_id})"
        self.stdout.write(self.style.MIGRATE_HEADING(heading))
        for resource, attr in COLLECTIONS.items():
            states = list(
                SyncState.objects.filter(business=business, resource=resource).order_by("pk")
            )
            if attr is None:
                remote = self._refund_payments(scope, business)
            else:
                remote = {
                    r.get("external_id"): r
                    for r in getattr(scope, attr).list()
                    if r.get("external_id")
                }
            if not states and not remote:
                continue
            before, notes = len(report.drift), []
            self._compare(resource, states, remote, report, notes)
            self._remote_only(resource, remote, {s.external_id for s in states}, report, notes)
            found = report.drift[before:]
            if found:
                verdict = f"{len(found)} difference(s)"
            elif notes:
                verdict = "no drift; counts differ (see below)"
            else:
                verdict = "all match"
            self.stdout.write(
                f"  {resource}s: {len(states)} local, {len(remote)} remote with external_id, "
                f"{verdict}"
            )
            self._write_drift(found)
            self._write_notes(notes)

    def _refund_payments(self, scope, business: SyncState) -> dict[str, dict]:
        """The remote payments of every refund of this business we pushed."""
        refund_ids = SyncState.objects.filter(
            business=business, resource="refund", remote_id__isnull=False
        ).values_list("remote_id", flat=True)
        remote = {}
        for refund_id in refund_ids:
            for record in scope.refund_payments(str(refund_id)).list():
                if record.get("external_id"):
                    remote[record["external_id"]] = record
        return remote

    def _compare(self, resource, states, remote: dict, report: Report, notes: list) -> None:
        compared = resource in AMOUNT_FIELDS or resource in DETAIL_RESOURCES
        instances = self._instances(states) if compared else {}
        unpushed = 0
        for state in states:
            record = remote.get(state.external_id)
            what = f"{resource} {state.label!r} (#{state.object_id})"
            if record is None:
                if state.remote_id or state.status == "synced":
                    self._add(report, Drift("missing_remote", f"{what}: not in Thredfi", state))
                else:
                    unpushed += 1
                continue
            rid = str(record.get("id"))
            if state.remote_id is None:
                self._add(report, Drift("missing_id", f"{what}: Thredfi ID missing", state, rid))
            elif str(state.remote_id) != rid:
                text = f"{what}: local Thredfi ID {state.remote_id} but Thredfi has it as {rid}"
                self._add(report, Drift("id_mismatch", text, state, rid))
            instance = instances.get((state.content_type_id, state.object_id))
            if instance is not None and resource in DETAIL_RESOURCES:
                self._compare_details(report, state, what, instance, record)
            elif instance is not None:
                theirs, ours = remote_amount(resource, record), local_amount(instance)
                if theirs is not None and ours is not None and theirs != ours:
                    text = f"{what}: amount {ours} cents locally, {theirs} cents in Thredfi"
                    self._add(report, Drift("amount", text, state))
        if unpushed:
            notes.append(f"{unpushed} {resource}(s) not pushed to Thredfi yet")

    def _compare_details(self, report: Report, state, what, instance, record) -> None:
        differences = detail_differences(instance, record)
        if differences:
            text = (
                f"{what}: outdated in Thredfi ({'; '.join(differences)}); Thredfi has no "
                f"{state.resource} update: change it in Thredfi by hand"
            )
            self._add(report, Drift("outdated", text, state))
        elif state.remote_stale and self.fix:
            SyncState.objects.filter(pk=state.pk).update(remote_stale=False)

    def _instances(self, states: list[SyncState]) -> dict[tuple[int, str], Any]:
        """The host objects behind ``states``, loaded in chunks (amounts need their lines)."""
        wanted: dict[int, list[str]] = {}
        for state in states:
            wanted.setdefault(state.content_type_id, []).append(state.object_id)
        found = {}
        for ct_id, object_ids in wanted.items():
            model = ContentType.objects.get_for_id(ct_id).model_class()
            if model is None:
                continue
            for start in range(0, len(object_ids), CHUNK):
                chunk = object_ids[start : start + CHUNK]
                for obj in model.get_thredfi_queryset().filter(pk__in=chunk):
                    found[(ct_id, str(obj.pk))] = obj
        return found

    def _remote_only(self, resource, remote: dict, local_ids: set[str], report, notes) -> None:
        foreign = 0
        for external_id, record in remote.items():
            if external_id in local_ids:
                continue
            if external_id.startswith(self.ours):
                text = f"{resource} {external_id} (Thredfi ID {record.get('id')}): no local object"
                self._add(report, Drift("remote_only", text))
            else:
                foreign += 1
        if foreign:
            notes.append(
                f"{foreign} remote {resource}(s) not created by this platform (left alone)"
            )

    # -- repairing ---------------------------------------------------------------------------

    def _add(self, report: Report, drift: Drift) -> None:
        if self.fix:
            drift.repaired = self._repair(drift)
        report.drift.append(drift)

    def _write_drift(self, drifts: list[Drift]) -> None:
        for drift in drifts:
            mark = self.style.SUCCESS("✓ fixed") if drift.repaired else self.style.ERROR("✗")
            self.stdout.write(f"    {mark} {drift.text}")

    def _write_notes(self, notes: list[str]) -> None:
        for note in notes:
            self.stdout.write(f"    · {note}")

    def _repair(self, drift: Drift) -> bool:
        state = drift.state
        if drift.kind == "missing_id":
            self._set_remote_id(state, drift.remote_id)
            return True
        if drift.kind == "missing_remote":
            # Forget the stale id and push again; the external_id makes a re-create idempotent.
            self._set_remote_id(state, None)
            request_sync([state.pk], backfill=True)
            return True
        if drift.kind == "amount":
            request_sync([state.pk], backfill=True)
            return True
        if drift.kind == "outdated":
            # Not repairable from here; flagged so the admin and thredfi_status show it.
            SyncState.objects.filter(pk=state.pk).update(remote_stale=True)
            return False
        return False  # id mismatches and remote-only records need a person

    def _set_remote_id(self, state: SyncState, remote_id: str | None) -> None:
        model = ContentType.objects.get_for_id(state.content_type_id).model_class()
        with transaction.atomic():
            # A new remote id is a fresh record: whatever was outdated in the old one is not.
            SyncState.objects.filter(pk=state.pk).update(remote_id=remote_id, remote_stale=False)
            if model is not None:
                # update() sends no signal: adopting an id is not a change to push.
                model._default_manager.filter(pk=state.object_id).update(thredfi_id=remote_id)

    # -- summary -----------------------------------------------------------------------------

    def _summary(self, report: Report) -> None:
        remaining = [d for d in report.drift if not d.repaired]
        repaired = len(report.drift) - len(remaining)
        if not report.drift:
            self.stdout.write(self.style.SUCCESS("No drift: Thredfi matches the local objects."))
            return
        kinds: dict[str, int] = {}
        for drift in report.drift:
            kinds[drift.kind] = kinds.get(drift.kind, 0) + 1
        summary = ", ".join(f"{n} {kind.replace('_', ' ')}" for kind, n in sorted(kinds.items()))
        self.stdout.write(f"Drift found: {summary}.")
        if repaired:
            self.stdout.write(self.style.SUCCESS(f"Repaired {repaired}; re-queued pushes run "
                                                 "on the Celery worker."))  # fmt: skip
        if remaining:
            hint = "" if self.fix else " Run again with --fix to repair what can be repaired."
            raise CommandError(f"{len(remaining)} difference(s) remain.{hint}")
