from datetime import datetime, time, timedelta, timezone

from django.db import migrations

RECONCILE = "storage.tasks.reconcile_storage"


def schedule_reconciliation(apps, schema_editor):
    # 02:30 UTC, when nobody uploads; daily from then on.
    tomorrow = datetime.now(timezone.utc).date() + timedelta(days=1)
    apps.get_model("django_q", "Schedule").objects.update_or_create(
        func=RECONCILE,
        defaults={"name": "Storage reconciliation: list each lab's objects, compare with the ledger",
                  "schedule_type": "D", "repeats": -1,
                  "next_run": datetime.combine(tomorrow, time(2, 30), tzinfo=timezone.utc)})


def unschedule_reconciliation(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(func=RECONCILE).delete()


class Migration(migrations.Migration):
    """Every night: list each lab's prefix in every bucket (ListObjectsV2, a thousand keys a
    request), record a snapshot, and flag objects nobody recorded or recorded ones that are gone."""

    dependencies = [
        ("wes_storage", "0002_usage_and_reconciliation"),
        ("django_q", "0018_task_success_index"),
    ]

    operations = [migrations.RunPython(schedule_reconciliation, unschedule_reconciliation)]
