from datetime import datetime, time, timedelta, timezone

from django.db import migrations, models

DRIFT_CHECK = "storage.tasks.check_storage_drift"


def schedule_drift_check(apps, schema_editor):
    # 03:15 UTC daily, after the nightly reconciliation; /metrics shows the outcome.
    tomorrow = datetime.now(timezone.utc).date() + timedelta(days=1)
    apps.get_model("django_q", "Schedule").objects.update_or_create(
        func=DRIFT_CHECK,
        defaults={"name": "Storage drift: compare the buckets' settings with the configuration",
                  "schedule_type": "D", "repeats": -1,
                  "next_run": datetime.combine(tomorrow, time(3, 15), tzinfo=timezone.utc)})


def unschedule_drift_check(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(func=DRIFT_CHECK).delete()


class Migration(migrations.Migration):
    """Counts several processes add to, and the latest outcome of each check, for /metrics; a
    daily drift check so that the drift figure stays current."""

    dependencies = [
        ('wes_storage', '0006_schedule_backup'),
        ('django_q', '0018_task_success_index'),
    ]

    operations = [
        migrations.CreateModel(
            name='CheckResult',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(max_length=64, unique=True)),
                ('ok', models.BooleanField()),
                ('problems', models.PositiveIntegerField(default=0)),
                ('detail', models.TextField(blank=True)),
                ('checked_at', models.DateTimeField()),
            ],
        ),
        migrations.CreateModel(
            name='MetricCount',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(max_length=64)),
                ('labels', models.CharField(blank=True, max_length=255)),
                ('value', models.FloatField(default=0)),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('name', 'labels'), name='one_metric_count_per_series')],
            },
        ),
        migrations.RunPython(schedule_drift_check, unschedule_drift_check),
    ]
