"""Usage metering and reconciliation now belong to jobs (jobs/migrations/0007): the storage app
forgets them, state only; the tables stay for jobs to adopt."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('wes_storage', '0003_schedule_reconciliation'),
        ('jobs', '0007_records_from_storage'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(database_operations=[], state_operations=[
            migrations.RemoveField(model_name='labusagesnapshot', name='lab'),
            migrations.RemoveField(model_name='labusagesnapshot', name='run'),
            migrations.DeleteModel(name='JobUsage'),
            migrations.DeleteModel(name='LabUsageSnapshot'),
            migrations.DeleteModel(name='ReconciliationRun'),
        ]),
    ]
