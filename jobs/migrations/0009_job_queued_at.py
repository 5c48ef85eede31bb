
import django.utils.timezone
from django.db import migrations, models
from django.db.models import F


def queued_when_submitted(apps, schema_editor):
    # Existing jobs were last queued when submitted (or retried, which is not recorded): the
    # reaper's wait then counts from there, as it did before.
    apps.get_model("jobs", "Job").objects.update(queued_at=F("submitted_at"))


class Migration(migrations.Migration):

    dependencies = [
        ('jobs', '0008_records_tables'),
    ]

    operations = [
        migrations.AddField(
            model_name='job',
            name='queued_at',
            field=models.DateTimeField(default=django.utils.timezone.now),
        ),
        migrations.RunPython(queued_when_submitted, migrations.RunPython.noop),
    ]
