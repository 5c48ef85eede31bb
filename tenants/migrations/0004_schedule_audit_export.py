from datetime import date, datetime, time

from django.db import migrations
from django.utils import timezone

EXPORT = "tenants.tasks.export_audit_log"


def schedule(apps, schema_editor):
    # First run at 01:00 on the first of next month; django-q2 then adds a month each time, so it
    # stays on the first (a schedule created mid-month would otherwise run mid-month forever).
    today = timezone.localdate()
    first = date(today.year + (today.month == 12), today.month % 12 + 1, 1)
    apps.get_model("django_q", "Schedule").objects.update_or_create(
        func=EXPORT, defaults={
            "name": "Audit log: export the previous month to the logs bucket",
            "schedule_type": "M", "repeats": -1,
            "next_run": datetime.combine(first, time(1, 0), tzinfo=timezone.get_current_timezone()),
        })


def unschedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(func=EXPORT).delete()


class Migration(migrations.Migration):
    dependencies = [("tenants", "0003_audit_exports_notifications"),
                    ("django_q", "0018_task_success_index")]
    operations = [migrations.RunPython(schedule, unschedule)]
