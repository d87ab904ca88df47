"""Issue 6's fault-injection run, at CI size, and proof that its end-state checks can fail.

benchmarks/fault_injection.py syncs 2,000 objects by hand; here the same ``run()`` syncs 300
through two real celery workers while the fake Thredfi over HTTP answers 10% 5xx, 5% 429 with
Retry-After, applies 5% and drops the connection, and answers 2% after the client's read timeout;
one worker is SIGKILLed mid-push and restarted, and some invoices are edited mid-run. Every object
must end synced, with exactly one remote record per external_id, and the same ids and amounts.
"""

from __future__ import annotations

import copy
from decimal import Decimal
from pathlib import Path

import pytest

from benchmarks import fault_injection
from benchmarks.fault_injection import THREDFI_OVERRIDES, Result, build_objects, verify
from tests.testapp.models import Customer, InvoiceLine
from thredfi_django.engine import absorb
from thredfi_django.engine.drain import sync_state
from thredfi_django.models import SyncState


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_300_objects_end_synced_exactly_once_through_faults_and_a_killed_worker(
    live_thredfi, settings
):
    # The sweep runs in this process (as beat would): it needs the run's lease and stale times.
    settings.THREDFI = {**settings.THREDFI, **THREDFI_OVERRIDES}

    result = fault_injection.run(live_thredfi.url, objects=300, seed=6, workers=2, deadline=240)

    report = "\n".join(result.lines())
    logs = "\n".join(Path(p).read_text(errors="replace")[-5000:] for p in result.worker_logs)
    for path in result.worker_logs:
        Path(path).unlink(missing_ok=True)
    assert result.problems == [], f"{report}\n--- worker logs (tails) ---\n{logs}"
    assert result.statuses == {"synced": 300}
    assert result.objects == {"business": 1, "customer": 29, "invoice": 180, "payment": 90}
    assert result.remote_records == {
        "businesses": 1, "customers": 29, "invoices": 180, "payments": 90
    }  # fmt: skip
    assert result.duplicates == 0 and result.amount_mismatches == 0
    assert result.killed_at_synced is not None, "a worker was SIGKILLed mid-run"
    assert result.edits > 0
    faults = result.stats["faults"]
    for kind in ("server_error", "rate_limit", "drop", "slow"):
        assert faults.get(kind, 0) > 0, f"no {kind} fault was injected: {faults}"


@pytest.mark.django_db
def test_the_end_state_checks_catch_a_duplicate_a_lost_record_a_lost_update_and_a_stuck_row(
    thredfi_fake,
):
    build_objects(8, seed=1)
    absorb.absorb_all()  # as the drains the saves' commits wake would
    for state_id in SyncState.objects.order_by("pk").values_list("pk", flat=True):
        sync_state(state_id, worker="test")
    clean = verify(thredfi_fake.base_url, Result(killed_at_synced=0), expected=8)
    assert clean.problems == [] and clean.duplicates == 0

    # A second remote customer with the first one's external_id.
    customer = Customer.objects.order_by("pk").first()
    original = thredfi_fake.store.tables["customers"][str(customer.thredfi_id)]
    twin = {k: copy.deepcopy(v) for k, v in original.items() if k != "id"}
    thredfi_fake.store.insert("customers", twin, original["_scope"])
    # A remote invoice gone.
    line = InvoiceLine.objects.order_by("pk").first()
    thredfi_fake.remove_record("invoices", str(line.invoice.thredfi_id))
    # A local edit never pushed: the row stays pending and the amounts differ.
    other = InvoiceLine.objects.exclude(invoice=line.invoice).order_by("pk").first()
    other.unit_price += Decimal("0.01")
    other.save()

    found = verify(thredfi_fake.base_url, Result(killed_at_synced=0), expected=8)

    problems = "\n".join(found.problems)
    assert found.duplicates == 1
    assert f"2 remote customers with external_id {customer.get_thredfi_external_id()}" in problems
    external_id = line.invoice.get_thredfi_external_id()
    assert f"invoice {line.invoice_id} ({external_id}) has no remote record" in problems
    assert f"not synced: invoice {other.invoice_id} pending" in problems
    assert found.amount_mismatches == 1
    assert f"invoice {other.invoice_id}: " in problems and "cents locally" in problems
