"""Indexes that keep claims, the sweep, the counts and the outbox changelist cheap on a table of
millions of rows. On PostgreSQL they are built with ``CREATE INDEX CONCURRENTLY``, so a live
table keeps taking writes while they build (hence ``atomic = False``); elsewhere, plainly."""

from django.db import migrations, models


class AddIndexOnline(migrations.AddIndex):
    """``CREATE INDEX CONCURRENTLY`` on PostgreSQL (what ``django.contrib.postgres``'s
    ``AddIndexConcurrently`` does, without importing psycopg where it is not installed),
    a plain ``AddIndex`` on every other database.

    A migration that is not atomic and stops halfway is run again from its first operation,
    and an interrupted ``CONCURRENTLY`` build leaves an INVALID index behind: both would fail
    with "already exists". So on PostgreSQL a valid index of that name on the table is kept
    (its name and validity are checked, not its definition) and an invalid one is dropped and
    built again (as is one that another ``migrate`` is still building: it waits, then redoes it)."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        model = to_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return
        valid = None if schema_editor.collect_sql else _is_valid(schema_editor, model, self.index)
        if valid:
            return
        if valid is False:
            schema_editor.remove_index(model, self.index, concurrently=True)
        schema_editor.add_index(model, self.index, concurrently=True)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        model = from_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.remove_index(model, self.index, concurrently=True)


def _is_valid(schema_editor, model, index) -> bool | None:
    """Whether ``index`` exists on ``model``'s table and is valid; None when it does not exist."""
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE i.indrelid = to_regclass(%s) AND c.relname = %s",
            [connection.ops.quote_name(model._meta.db_table), index.name],
        )
        row = cursor.fetchone()
    return None if row is None else bool(row[0])


WORK_TO_DO = models.Q(("status__in", ["pending", "in_progress"]))


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("thredfi_django", "0004_syncstate_lane"),
    ]

    operations = [
        AddIndexOnline(
            model_name="syncstate",
            index=models.Index(
                condition=WORK_TO_DO, fields=["lane", "id"], name="thredfi_claim_idx"
            ),
        ),
        AddIndexOnline(
            model_name="syncstate",
            index=models.Index(
                condition=WORK_TO_DO, fields=["next_attempt_at", "id"], name="thredfi_sweep_idx"
            ),
        ),
        AddIndexOnline(
            model_name="syncstate",
            index=models.Index(
                condition=models.Q(("status", "synced"), _negated=True),
                fields=["content_type", "status"],
                name="thredfi_unsynced_idx",
            ),
        ),
        AddIndexOnline(
            model_name="syncstate",
            index=models.Index(
                condition=models.Q(("remote_stale", True)),
                fields=["content_type"],
                name="thredfi_stale_idx",
            ),
        ),
        AddIndexOnline(
            model_name="syncstate",
            index=models.Index(fields=["updated_at", "id"], name="thredfi_recent_idx"),
        ),
    ]
