"""A large outbox: the indexes its hot paths need, built without locking the table, and counts
that do not read millions of rows. (How fast: benchmarks/million_rows.py; nothing is timed here.)"""

import re
import uuid
from io import StringIO

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.db import connection
from django.test import override_settings

from tests.testapp.factories import make_invoice
from tests.testapp.models import Invoice
from thredfi_django.admin.paginator import EstimatingPaginator
from thredfi_django.counts import content_types_with_rows, status_counts
from thredfi_django.models import SyncState, SyncStatus
from thredfi_django.sql import estimated_count

pytestmark = pytest.mark.django_db

LARGE_TABLE_INDEXES = {
    "thredfi_claim_idx",
    "thredfi_sweep_idx",
    "thredfi_unsynced_idx",
    "thredfi_stale_idx",
    "thredfi_recent_idx",
    "thredfi_claim_owner_idx",
    "thredfi_object_id_idx",
    "thredfi_label_prefix_idx",
}


def on_postgresql() -> bool:
    return connection.vendor == "postgresql"


def test_the_migration_builds_every_large_table_index():
    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, SyncState._meta.db_table)
    assert LARGE_TABLE_INDEXES <= set(found)


@pytest.mark.django_db(transaction=True)  # SQLite's schema editor refuses an open transaction
def test_the_migration_builds_them_concurrently_on_postgresql_and_plainly_elsewhere():
    built = 0
    for migration in ("0005", "0008", "0009"):
        out = StringIO()
        call_command("sqlmigrate", "thredfi_django", migration, stdout=out)
        sql = out.getvalue()
        built += sql.count("CREATE INDEX")
        assert ("CONCURRENTLY" in sql) == on_postgresql()
        assert "BEGIN" not in sql  # not atomic: CONCURRENTLY refuses to run in a transaction
    assert built == len(LARGE_TABLE_INDEXES)
    # The label index answers LIKE 'prefix%' under any collation; elsewhere the operator class
    # would be a syntax error.
    assert ("text_pattern_ops" in sql) == on_postgresql()


def test_counts_per_model_and_status_are_exact_on_a_small_table():
    make_invoice()
    invoice = Invoice.objects.get()
    call_command("thredfi_status", stdout=StringIO())  # takes the saves in as pending rows
    SyncState.objects.filter(object_id=str(invoice.pk), resource="invoice").update(
        status=SyncStatus.SYNCED
    )

    counts = status_counts()

    invoice_type = SyncState.objects.get(resource="invoice").content_type_id
    assert counts.by_model[invoice_type] == {SyncStatus.SYNCED: 1}
    assert sorted(counts.by_model) == content_types_with_rows()
    assert counts.estimated is False


def test_the_changelist_paginator_counts_while_the_table_is_small():
    for _ in range(3):
        make_invoice()
    call_command("thredfi_status", stdout=StringIO())
    rows = SyncState.objects.order_by("pk")

    assert EstimatingPaginator(rows, 2).count == rows.count() == 9


@pytest.mark.services
def test_above_the_limit_synced_rows_and_result_counts_are_the_databases_estimate():
    for _ in range(3):
        make_invoice()
    call_command("thredfi_status", stdout=StringIO())
    SyncState.objects.exclude(resource="invoice").update(status=SyncStatus.SYNCED)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {SyncState._meta.db_table}")

    with override_settings(THREDFI={"EXACT_COUNT_LIMIT": 0}):
        counts = status_counts()
        page_count = EstimatingPaginator(SyncState.objects.order_by("pk"), 2).count
        status_output = StringIO()
        call_command("thredfi_status", stdout=status_output)

    assert counts.estimated is True
    invoice_type = SyncState.objects.filter(resource="invoice").first().content_type_id
    assert counts.by_model[invoice_type] == {SyncStatus.PENDING: 3, SyncStatus.SYNCED: 0}
    assert page_count == estimated_count(SyncState.objects.all()) == 9
    assert "the database's estimate" in status_output.getvalue()


def test_no_estimate_where_the_database_gives_none():
    if on_postgresql():
        pytest.skip("PostgreSQL estimates; the services pass covers it")
    assert estimated_count(SyncState.objects.all()) is None


@pytest.mark.services
def test_the_outbox_search_reads_an_index_for_each_thing_it_matches():
    content_type = ContentType.objects.get_for_model(Invoice)
    SyncState.objects.bulk_create(
        SyncState(
            content_type=content_type,
            object_id=str(n),
            resource="invoice",
            external_id=f"test:invoice:{n}",
            remote_id=uuid.UUID(int=n),
            label=f"Invoice INV-{n}",
        )
        for n in range(1, 5001)
    )
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {SyncState._meta.db_table}")

    # A UUID-shaped term is compared with all four; the planner ORs one index scan per column.
    term = str(uuid.UUID(int=4242))
    plan = SyncState.objects.search(term).order_by("-updated_at", "-id")[:100].explain()

    used = re.findall(r"Index Scan(?: Backward)? (?:using|on) (\w+)", plan)
    assert "Seq Scan" not in plan, plan
    assert {"thredfi_object_id_idx", "thredfi_label_prefix_idx"} <= set(used), plan
    assert any("external_id" in name for name in used), plan
    assert any("remote_id" in name for name in used), plan
    assert [s.label for s in SyncState.objects.search(term)] == ["Invoice INV-4242"]


def search_index_sql() -> dict[str, str]:
    """0009's CREATE INDEX statements, by index name, as an operator's psql would run them."""
    out = StringIO()
    call_command("sqlmigrate", "thredfi_django", "0009", stdout=out)
    statements = [s.strip() for s in out.getvalue().split(";") if "CREATE INDEX" in s]
    return {re.search(r'INDEX CONCURRENTLY "(\w+)"', s).group(1): s for s in statements}


def index_validity() -> dict[str, bool]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c "
            "ON c.oid = i.indexrelid WHERE c.relname LIKE 'thredfi%'"
        )
        return dict(cursor.fetchall())


def index_oid(name: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)::oid", [name])
        return cursor.fetchone()[0]


@pytest.fixture
def before_the_search_indexes():
    """The schema as it was before migration 0009; migrated to the end again afterwards."""
    assert on_postgresql(), "these stories run CREATE INDEX CONCURRENTLY on PostgreSQL"
    call_command("migrate", "thredfi_django", "0008", verbosity=0)
    try:
        yield
    finally:
        call_command("migrate", "thredfi_django", verbosity=0)


@pytest.mark.services
@pytest.mark.django_db(transaction=True)  # CONCURRENTLY refuses to run in a transaction
def test_a_migration_that_stopped_after_its_first_index_completes_when_run_again(
    before_the_search_indexes,
):
    first = search_index_sql()["thredfi_object_id_idx"]
    with connection.cursor() as cursor:
        cursor.execute(first)  # the run built this one, then stopped (killed, a lock timeout)
    built = index_oid("thredfi_object_id_idx")

    call_command("migrate", "thredfi_django", "0009", verbosity=0)

    assert index_oid("thredfi_object_id_idx") == built  # kept, not built twice
    valid = index_validity()
    assert valid["thredfi_object_id_idx"] is True
    assert valid["thredfi_label_prefix_idx"] is True


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_an_index_an_interrupted_build_left_invalid_is_built_again(before_the_search_indexes):
    with connection.cursor() as cursor:
        cursor.execute(search_index_sql()["thredfi_label_prefix_idx"])
        # What PostgreSQL leaves when CREATE INDEX CONCURRENTLY is cancelled halfway.
        cursor.execute(
            "UPDATE pg_index SET indisvalid = false "
            "WHERE indexrelid = 'thredfi_label_prefix_idx'::regclass"
        )
    assert index_validity()["thredfi_label_prefix_idx"] is False

    call_command("migrate", "thredfi_django", "0009", verbosity=0)

    assert index_validity()["thredfi_label_prefix_idx"] is True
