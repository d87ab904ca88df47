from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("thredfi_django", "0002_sync_dashboard"),
    ]

    operations = [
        migrations.AddField(
            model_name="syncstate",
            name="remote_stale",
            field=models.BooleanField(
                null=True,
                default=False,
                help_text="Changed after its first push; Thredfi has no update for it.",
                verbose_name="outdated in Thredfi",
            ),
        ),
    ]
