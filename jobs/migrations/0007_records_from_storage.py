"""Usage metering and reconciliation move from the storage app to jobs (jobs.records), state only:
the tables stay as they are here and are renamed in 0008. Nothing is copied, nothing is lost."""

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('jobs', '0006_schedule_archiving'),
        ('tenants', '0005_schedule_audit_verify'),
        ('wes_storage', '0003_schedule_reconciliation'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(database_operations=[], state_operations=[
        migrations.CreateModel(
            name='ReconciliationRun',
            fields=[
                ('id', models.BigAutoField(primary_key=True, serialize=False)),
                ('started_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('finished_at', models.DateTimeField(blank=True, null=True)),
                ('status', models.CharField(choices=[('running', 'Running'), ('matches', 'Matches the ledger'), ('differences', 'Differences flagged'), ('failed', 'Failed')], default='running', max_length=12)),
                ('trigger', models.CharField(blank=True, max_length=20)),
                ('error', models.TextField(blank=True)),
                ('list_requests', models.PositiveIntegerField(default=0)),
                ('objects_listed', models.BigIntegerField(default=0)),
                ('bytes_listed', models.BigIntegerField(default=0)),
                ('unrecorded_count', models.BigIntegerField(default=0)),
                ('missing_count', models.BigIntegerField(default=0)),
                ('size_mismatch_count', models.BigIntegerField(default=0)),
                ('expired_count', models.BigIntegerField(default=0)),
                ('multipart_uploads', models.JSONField(blank=True, default=dict)),
            ],
            options={
                'ordering': ['-started_at'],
                'db_table': 'wes_storage_reconciliationrun',
            },
        ),
        migrations.CreateModel(
            name='JobUsage',
            fields=[
                ('job', models.OneToOneField(on_delete=django.db.models.deletion.PROTECT, primary_key=True, related_name='usage', serialize=False, to='jobs.job')),
                ('cpu_seconds', models.FloatField()),
                ('realtime_seconds', models.FloatField()),
                ('tasks', models.PositiveIntegerField()),
                ('recorded_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('lab', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='+', to='tenants.lab')),
            ],
            options={'db_table': 'wes_storage_jobusage'},
        ),
        migrations.CreateModel(
            name='LabUsageSnapshot',
            fields=[
                ('id', models.BigAutoField(primary_key=True, serialize=False)),
                ('bucket', models.CharField(max_length=63)),
                ('bucket_role', models.CharField(max_length=20)),
                ('taken_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('status', models.CharField(choices=[('running', 'Running'), ('matches', 'Matches the ledger'), ('differences', 'Differences flagged'), ('failed', 'Failed')], max_length=12)),
                ('object_count', models.BigIntegerField(default=0)),
                ('bytes_listed', models.BigIntegerField(default=0)),
                ('ledger_count', models.BigIntegerField(default=0)),
                ('ledger_bytes', models.BigIntegerField(default=0)),
                ('unrecorded_count', models.BigIntegerField(default=0)),
                ('unrecorded_bytes', models.BigIntegerField(default=0)),
                ('unrecorded_sample', models.JSONField(blank=True, default=list)),
                ('missing_count', models.BigIntegerField(default=0)),
                ('missing_bytes', models.BigIntegerField(default=0)),
                ('missing_sample', models.JSONField(blank=True, default=list)),
                ('size_mismatch_count', models.BigIntegerField(default=0)),
                ('size_mismatch_sample', models.JSONField(blank=True, default=list)),
                ('expired_count', models.BigIntegerField(default=0, help_text="removed by the bucket's expiry rule; ledger row closed", verbose_name='expired')),
                ('recent_count', models.BigIntegerField(default=0, help_text='written within the last hour, not judged yet', verbose_name='recent')),
                ('lab', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='tenants.lab')),
                ('run', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='snapshots', to='jobs.reconciliationrun')),
            ],
            options={
                'ordering': ['bucket_role', 'lab__name'],
                'db_table': 'wes_storage_labusagesnapshot',
                'constraints': [models.UniqueConstraint(fields=('run', 'lab', 'bucket'), name='one_snapshot_per_run_lab_bucket')],
            },
        ),
        ]),
    ]
