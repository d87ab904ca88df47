"""Fixtures and helpers shared by the admin tests (tests/test_admin_*.py, tests/browser/).

Test modules take the fixtures with ``from tests.admin_fixtures import *`` (``__all__`` lists
only fixtures) and import the helpers by name.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from tests.testapp.models import Account, Invoice
from thredfi_django.engine import absorb
from thredfi_django.models import SyncState, SyncStatus

__all__ = ["account", "enqueued", "make_invoice", "operator", "viewer"]


def make_staff(username: str, *perms: str) -> User:
    """A staff user holding exactly ``perms`` ("app_label.codename")."""
    user = User.objects.create_user(username, f"{username}@example.com", "pw", is_staff=True)
    for perm in perms:
        app_label, codename = perm.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    return user


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def state_of(obj: Any) -> SyncState:
    """The object's sync state (a save only marked on its row is absorbed first: state_for)."""
    state = absorb.state_for(obj)
    if state is None:
        raise SyncState.DoesNotExist(f"No sync state for {obj!r}.")
    return state


def set_state(obj: Any, **fields: Any) -> SyncState:
    """Put the sync state of ``obj`` into a given shape (as the engine would have left it)."""
    SyncState.objects.filter(pk=state_of(obj).pk).update(**fields)
    return state_of(obj)


@pytest.fixture
def account(db) -> Account:
    return Account.objects.create(legal_name="Acme Ltd", email="books@acme.test")


@pytest.fixture
def make_invoice(account):
    """Create an invoice (its save records a pending sync state) and shape that state.

    Every save so far is absorbed, as the drain its commit wakes would have done."""

    def make(number: str, status: str | None = SyncStatus.PENDING, **state: Any) -> Invoice:
        invoice = Invoice.objects.create(account=account, number=number)
        absorb.absorb()
        if status is None:  # "never synced": no sync-state row at all
            SyncState.objects.filter(pk=state_of(invoice).pk).delete()
        else:
            set_state(invoice, status=status, **state)
        return invoice

    return make


@pytest.fixture
def operator(db) -> User:
    """Can see invoices and the outbox, and may trigger syncs and retries."""
    return make_staff(
        "operator",
        "testapp.view_invoice",
        "testapp.change_invoice",
        "thredfi_django.view_syncstate",
        "thredfi_django.sync_objects",
    )


@pytest.fixture
def viewer(db) -> User:
    """Can look at invoices and the outbox but not trigger anything."""
    return make_staff(
        "viewer", "testapp.view_invoice", "testapp.change_invoice", "thredfi_django.view_syncstate"
    )


@pytest.fixture
def enqueued(monkeypatch) -> list[int]:
    """State ids handed to Celery (the broker is replaced; the transaction still has to commit)."""
    sent: list[int] = []

    def fake_enqueue(state_ids, **kwargs):
        ids = list(state_ids)
        sent.extend(ids)
        return len(ids)

    from thredfi_django.recording import wake

    monkeypatch.setattr(wake, "enqueue", fake_enqueue)
    return sent
