from django.db import migrations

SWEEP = "jobs.tasks.sweep_intake"


def schedule_sweep(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.update_or_create(
        func=SWEEP,
        defaults={"name": "Intake sweep: abandoned uploads, stalled verifications",
                  "schedule_type": "H", "repeats": -1})


def unschedule_sweep(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(func=SWEEP).delete()


class Migration(migrations.Migration):
    """Every hour: abort multipart uploads left unfinished for a day (whatever the S3 server's own
    lifecycle support) and re-queue verifications a dead worker or a storage outage left behind."""

    dependencies = [
        ("jobs", "0001_initial"),
        ("django_q", "0018_task_success_index"),
    ]

    operations = [migrations.RunPython(schedule_sweep, unschedule_sweep)]
