"""The moved tables take the jobs app's names; their content types follow them (so permissions
granted on them, such as the operations permission "view reconciliation run", stay granted); the
schedules name the tasks where they now live (jobs/tasks.py)."""

from django.db import migrations

MOVED_MODELS = ("jobusage", "labusagesnapshot", "reconciliationrun")
RENAMED_TASKS = {"storage.tasks.archive_jobs": "jobs.tasks.archive_jobs",
                 "storage.tasks.purge_archives": "jobs.tasks.purge_archives",
                 "storage.tasks.reconcile_storage": "jobs.tasks.reconcile_storage"}


def follow_the_models(apps, schema_editor, *, old="wes_storage", new="jobs", tasks=RENAMED_TASKS):
    content_types = apps.get_model("contenttypes", "ContentType").objects
    for model in MOVED_MODELS:
        if content_types.filter(app_label=old, model=model).exists():
            # A content type made for the new place before this ran holds no grants of its own.
            content_types.filter(app_label=new, model=model).delete()
            content_types.filter(app_label=old, model=model).update(app_label=new)
    schedules = apps.get_model("django_q", "Schedule").objects
    for before, after in tasks.items():
        if schedules.filter(func=after).exists():   # never two schedules of one task
            schedules.filter(func=before).delete()
        else:
            schedules.filter(func=before).update(func=after)


def go_back(apps, schema_editor):
    follow_the_models(apps, schema_editor, old="jobs", new="wes_storage",
                      tasks={after: before for before, after in RENAMED_TASKS.items()})


class Migration(migrations.Migration):

    dependencies = [
        ('jobs', '0007_records_from_storage'),
        ('wes_storage', '0004_records_moved_to_jobs'),
        ('contenttypes', '0002_remove_content_type_name'),
        ('django_q', '0018_task_success_index'),
    ]

    operations = [
        migrations.AlterModelTable(name='jobusage', table=None),
        migrations.AlterModelTable(name='labusagesnapshot', table=None),
        migrations.AlterModelTable(name='reconciliationrun', table=None),
        migrations.RunPython(follow_the_models, go_back),
    ]
