"""The sweep and the Celery tasks: how pending work finds a worker again, and the pause switch."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.utils import timezone

from tests.testapp.factories import make_account, make_customer, make_invoice
from thredfi_django import tasks
from thredfi_django.engine import absorb
from thredfi_django.engine.drain import sync_state
from thredfi_django.engine.sweep import sweep
from thredfi_django.models import SyncState, SyncStatus

pytestmark = pytest.mark.django_db


def thredfi(**extra):
    """THREDFI as the test has it, with ``extra`` on top."""
    from django.conf import settings

    return override_settings(THREDFI={**settings.THREDFI, **extra})


LATER = dt.timedelta(seconds=61)  # past SWEEP_STALE_SECONDS


def test_sync_object_is_a_late_acking_task_that_survives_a_lost_worker():
    assert tasks.sync_object.acks_late is True
    assert tasks.sync_object.reject_on_worker_lost is True
    assert tasks.sync_object.name == "thredfi_django.sync_object"


def test_sync_object_runs_the_engine_and_returns_its_outcome(queue, committed):
    with committed():
        account = make_account()
    with thredfi(SYNC_ENABLED=False):
        assert tasks.sync_object.run(absorb.state_for(account).pk) == "paused"


def test_a_paused_switch_records_changes_but_pushes_nothing(queue, committed):
    with thredfi(SYNC_ENABLED=False):
        with committed():
            account = make_account()
        state = absorb.state_for(account)
        result = sync_state(state.pk, worker="w")
        assert result.outcome == "paused"
        assert sweep(now=timezone.now() + LATER) == 0
    state.refresh_from_db()
    assert (state.status, state.lease_owner) == (SyncStatus.PENDING, "")
    queue.clear()
    with committed():
        assert sweep(now=timezone.now() + LATER) == 1, "resumed by the sweep"
    assert queue.ids == [state.pk]


def test_a_paused_model_waits_while_others_go_ahead(queue, committed):
    with committed():
        customer = make_customer()
    with thredfi(PAUSED_MODELS=["testapp.Customer"]):
        assert sync_state(absorb.state_for(customer).pk).outcome == "paused"
        queue.clear()
        with committed():
            assert sweep(now=timezone.now() + LATER) == 1  # only the account
    assert queue.ids == [absorb.state_for(customer.account).pk]


def test_a_blocked_row_is_woken_by_the_sweep_once_its_dependency_has_a_remote_id(queue, committed):
    with committed():
        customer = make_customer()
    business, blocked = absorb.state_for(customer.account), absorb.state_for(customer)
    SyncState.objects.filter(pk=business.pk).update(status=SyncStatus.NEEDS_ATTENTION)
    SyncState.objects.filter(pk=blocked.pk).update(status=SyncStatus.BLOCKED, blocked_on=business)
    queue.clear()
    with committed():
        assert sweep(now=timezone.now() + LATER) == 0
    SyncState.objects.filter(pk=business.pk).update(
        status=SyncStatus.SYNCED, remote_id=uuid.uuid4()
    )
    with committed():
        assert sweep(now=timezone.now() + LATER) == 1
    blocked.refresh_from_db()
    assert (blocked.status, blocked.blocked_on) == (SyncStatus.PENDING, None)
    assert queue.ids == [blocked.pk]


def test_a_retry_that_is_due_is_swept_at_once(queue, committed):
    with committed():
        account = make_account()
    state = absorb.state_for(account)
    now = timezone.now()
    SyncState.objects.filter(pk=state.pk).update(next_attempt_at=now + dt.timedelta(seconds=5))
    queue.clear()
    with committed():
        assert sweep(now=now) == 0
        assert sweep(now=now + dt.timedelta(seconds=6)) == 1
    assert queue.ids == [state.pk]


def test_the_sweep_command_and_task(queue, committed, capsys):
    with committed():
        make_invoice()
    SyncState.objects.update(updated_at=timezone.now() - LATER)
    queue.clear()
    with committed():
        call_command("thredfi_sweep")
    assert "Enqueued 3 row(s)" in capsys.readouterr().out
    assert len(queue.ids) == 3
    SyncState.objects.update(updated_at=timezone.now() - LATER)
    with committed():
        assert tasks.sweep_pending.run() == 3


def test_frequent_saves_do_not_hide_a_row_whose_task_was_lost_from_the_sweep(queue, committed):
    with committed():
        account = make_account()
    pending_since = absorb.state_for(account).updated_at
    queue.clear()  # the task is lost (broker restarted without persistence, say)
    for n in range(3):
        with committed():
            account.legal_name = f"Busy {n}"
            account.save()
    state = absorb.state_for(account)
    assert state.updated_at == pending_since, "updated_at says how long it has waited"
    with committed():
        assert sweep(now=pending_since + LATER) == 1
    assert queue.ids == [state.pk]
