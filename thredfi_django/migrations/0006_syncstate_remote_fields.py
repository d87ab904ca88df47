from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("thredfi_django", "0005_large_table_indexes")]

    operations = [
        migrations.AddField(
            model_name="syncstate",
            name="remote_status",
            field=models.CharField(
                blank=True,
                db_default="",
                default="",
                max_length=32,
                verbose_name="status in Thredfi",
            ),
        ),
        migrations.AddField(
            model_name="syncstate",
            name="remote_amount_due_cents",
            field=models.BigIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="syncstate",
            name="remote_amount_paid_cents",
            field=models.BigIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="syncstate",
            name="remote_updated_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="syncstate",
            name="remote_checked_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
