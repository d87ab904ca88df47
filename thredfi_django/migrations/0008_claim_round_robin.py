"""The index claims take turns over businesses with: (lane, business, id) of the rows that still
need something. Built online on PostgreSQL, as 0005's are."""

from importlib import import_module

from django.db import migrations, models
from django.db.models.functions import Coalesce

AddIndexOnline = import_module("thredfi_django.migrations.0005_large_table_indexes").AddIndexOnline

WORK_TO_DO = models.Q(("status__in", ["pending", "in_progress"]))


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("thredfi_django", "0007_syncstate_document_digest")]

    operations = [
        AddIndexOnline(
            model_name="syncstate",
            index=models.Index(
                models.F("lane"),
                Coalesce("business", "id", output_field=models.BigIntegerField()),
                models.F("id"),
                condition=WORK_TO_DO,
                name="thredfi_claim_owner_idx",
            ),
        ),
    ]
