from django.db import migrations

REAPER = "jobs.tasks.reap_jobs"


def schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.update_or_create(
        func=REAPER, defaults={"name": "Job reaper: re-queue runs whose worker died",
                               "schedule_type": "I", "minutes": 1, "repeats": -1})


def unschedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(func=REAPER).delete()


class Migration(migrations.Migration):
    dependencies = [("jobs", "0003_jobs_and_outputs"), ("django_q", "0018_task_success_index")]
    operations = [migrations.RunPython(schedule, unschedule)]
