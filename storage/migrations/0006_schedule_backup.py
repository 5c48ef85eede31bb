from datetime import datetime

from croniter import croniter
from django.conf import settings
from django.db import migrations
from django.utils import timezone

TASK = "storage.backup.schedule.scheduled_backup"


def schedule(apps, schema_editor):
    """The nightly backup (WES_BACKUP_SCHEDULE, a cron line); it does nothing until
    WES_BACKUP_TARGET is set. `manage.py backup --schedule` applies a changed cron line."""
    apps.get_model("django_q", "Schedule").objects.get_or_create(
        func=TASK, defaults={"name": "Backup: database and every bucket's versions to "
                                     "WES_BACKUP_TARGET",
                             "schedule_type": "C", "cron": settings.BACKUP_SCHEDULE,
                             "repeats": -1,
                             "next_run": croniter(settings.BACKUP_SCHEDULE,
                                                  timezone.localtime()).get_next(datetime)})


def unschedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(func=TASK).delete()


class Migration(migrations.Migration):
    dependencies = [("wes_storage", "0005_scrub"),
                    ("django_q", "0018_task_success_index")]
    operations = [migrations.RunPython(schedule, unschedule)]
