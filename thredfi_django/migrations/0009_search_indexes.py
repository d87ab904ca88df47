"""The indexes the outbox search reads (``SyncStateQuerySet.search``): a host object id, and the
start of a label in any case. Built online on PostgreSQL, as 0005's are; no extension needed."""

from importlib import import_module

from django.db import migrations, models
from django.db.models.functions import Upper

import thredfi_django.models

AddIndexOnline = import_module("thredfi_django.migrations.0005_large_table_indexes").AddIndexOnline


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("thredfi_django", "0008_claim_round_robin")]

    operations = [
        AddIndexOnline(
            model_name="syncstate",
            index=models.Index(fields=["object_id"], name="thredfi_object_id_idx"),
        ),
        AddIndexOnline(
            model_name="syncstate",
            index=thredfi_django.models.PrefixIndex(Upper("label"), name="thredfi_label_prefix_idx"),
        ),
    ]
