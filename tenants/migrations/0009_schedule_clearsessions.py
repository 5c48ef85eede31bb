from datetime import datetime, time, timedelta

from django.db import migrations
from django.utils import timezone

CLEAR = "django.core.management.call_command"
ARGS = "'clearsessions'"


def schedule(apps, schema_editor):
    """Expired sessions are refused as soon as they expire (their row's expiry date follows the
    idle limit); this deletes the rows themselves, daily."""
    tomorrow = timezone.localdate() + timedelta(days=1)
    apps.get_model("django_q", "Schedule").objects.update_or_create(
        func=CLEAR, args=ARGS, defaults={
            "name": "Sessions: delete expired session rows",
            "schedule_type": "D", "repeats": -1,
            "next_run": datetime.combine(tomorrow, time(3, 15),
                                         tzinfo=timezone.get_current_timezone()),
        })


def unschedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(func=CLEAR, args=ARGS).delete()


class Migration(migrations.Migration):
    dependencies = [("tenants", "0008_auditchain_key_id"), ("django_q", "0018_task_success_index"),
                    ("sessions", "0001_initial")]
    operations = [migrations.RunPython(schedule, unschedule)]
