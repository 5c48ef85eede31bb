from django.db import migrations, models

from common.migrations import AddIndexConcurrently


class Migration(migrations.Migration):
    """Jobs by state and the oldest queued job, read at every /metrics scrape (and the reaper's
    queries): an index, built without holding up the jobs being written meanwhile."""

    atomic = False

    dependencies = [
        ("jobs", "0016_report_lab_signed"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="job",
            index=models.Index(fields=["status", "queued_at"], name="job_status_queued"),
        ),
    ]
