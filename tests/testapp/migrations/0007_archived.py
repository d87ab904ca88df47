from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("testapp", "0006_vendor_refund")]

    operations = [
        migrations.AddField(
            model_name="customer",
            name="is_archived",
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name="vendor",
            name="is_archived",
            field=models.BooleanField(default=False),
        ),
    ]
