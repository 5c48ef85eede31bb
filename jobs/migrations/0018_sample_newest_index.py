from django.db import migrations, models

from common.migrations import AddIndexConcurrently


class Migration(migrations.Migration):
    """The admin's sample list (every lab's samples, newest first) read from an index instead of
    sorting the whole table for each page; built without holding up samples being written."""

    atomic = False

    dependencies = [
        ("jobs", "0017_job_status_index"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="sample",
            index=models.Index(fields=["-created_at", "-id"], name="sample_newest"),
        ),
    ]
