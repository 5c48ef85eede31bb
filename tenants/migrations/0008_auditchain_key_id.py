from datetime import datetime, time, timedelta

from django.db import migrations, models
from django.utils import timezone

CHECKPOINT = "tenants.tasks.checkpoint_audit_chain"


def schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.update_or_create(
        func=CHECKPOINT, defaults={
            "name": "Audit log: checkpoint the chain to the logs bucket (Object Lock)",
            "schedule_type": "D", "repeats": -1,
            "next_run": datetime.combine(timezone.localdate() + timedelta(days=1), time(14, 30),
                                         tzinfo=timezone.get_current_timezone()),
        })


def unschedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(func=CHECKPOINT).delete()


class Migration(migrations.Migration):
    """Keyed chaining: events from now on carry the id of the HMAC key they were chained with.

    A nullable column added without a default: PostgreSQL changes only the catalogue (no row is
    rewritten, so the append-only trigger is not involved), and the rows already there keep
    NULL, which is what marks them as chained with the plain SHA-256 of before. The next event
    written after this migration is the first keyed one.
    """

    dependencies = [("tenants", "0007_list_indexes"), ("django_q", "0018_task_success_index")]

    operations = [
        migrations.AddField(model_name="auditevent", name="key_id",
                            field=models.CharField(blank=True, max_length=32, null=True)),
        migrations.RunPython(schedule, unschedule),
    ]
