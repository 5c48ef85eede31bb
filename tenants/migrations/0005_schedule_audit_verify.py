from datetime import datetime, time, timedelta

from django.db import migrations
from django.utils import timezone

VERIFY = "tenants.tasks.verify_audit_chain"


def schedule(apps, schema_editor):
    tomorrow = timezone.localdate() + timedelta(days=1)
    apps.get_model("django_q", "Schedule").objects.update_or_create(
        func=VERIFY, defaults={
            "name": "Audit log: verify the hash chain (mails ADMINS when broken)",
            "schedule_type": "D", "repeats": -1,
            "next_run": datetime.combine(tomorrow, time(2, 30),
                                         tzinfo=timezone.get_current_timezone()),
        })


def unschedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(func=VERIFY).delete()


class Migration(migrations.Migration):
    dependencies = [("tenants", "0004_schedule_audit_export")]
    operations = [migrations.RunPython(schedule, unschedule)]
