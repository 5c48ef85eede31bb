from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('jobs', '0009_job_queued_at'),
    ]

    operations = [
        migrations.AddField(
            model_name='sample',
            name='verification_note',
            field=models.TextField(blank=True),
        ),
        migrations.AddField(
            model_name='sample',
            name='verification_retries',
            field=models.PositiveSmallIntegerField(default=0),
        ),
    ]
