from datetime import datetime, time, timedelta, timezone

from django.db import migrations

ARCHIVE = "storage.tasks.archive_jobs"
PURGE = "storage.tasks.purge_archives"


def schedule(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    tomorrow = datetime.now(timezone.utc).date() + timedelta(days=1)
    # Early morning UTC, away from the nightly storage reconciliation (02:30).
    for func, name, at in (
            (ARCHIVE, "Archive jobs past the results period (legal holds skipped)", time(3, 30)),
            (PURGE, "Purge archives past the archive period (legal holds skipped)", time(4, 30))):
        Schedule.objects.update_or_create(
            func=func, defaults={"name": name, "schedule_type": "D", "repeats": -1,
                                 "next_run": datetime.combine(tomorrow, at, tzinfo=timezone.utc)})


def unschedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(func__in=[ARCHIVE, PURGE]).delete()


class Migration(migrations.Migration):
    dependencies = [("jobs", "0005_results_review_retention"), ("django_q", "0018_task_success_index")]
    operations = [migrations.RunPython(schedule, unschedule)]
