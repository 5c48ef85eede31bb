"""The staff's records: what each job cost in compute, and the nightly comparison of the storage
server's listing with the object ledger (jobs.records)."""

from django.db import models
from django.utils import timezone

from jobs.models.runs import Job
from tenants.models import Lab


class JobUsage(models.Model):
    """What a succeeded job cost in compute, summed from its published trace when its outputs are
    published, so that usage reports read the database instead of re-reading trace files."""

    job = models.OneToOneField(Job, on_delete=models.PROTECT, primary_key=True,
                               related_name="usage")
    lab = models.ForeignKey(Lab, on_delete=models.PROTECT, related_name="+")
    cpu_seconds = models.FloatField()          # sum of realtime * %cpu / 100 over the tasks
    realtime_seconds = models.FloatField()     # sum of the tasks' wall-clock time
    tasks = models.PositiveIntegerField()
    recorded_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"usage of job {self.job_id}"


class ReconciliationStatus(models.TextChoices):
    RUNNING = "running", "Running"
    MATCHES = "matches", "Matches the ledger"
    DIFFERENCES = "differences", "Differences flagged"
    FAILED = "failed", "Failed"


class ReconciliationRun(models.Model):
    """One nightly comparison of what the storage server lists with the object ledger."""

    id = models.BigAutoField(primary_key=True)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=12, choices=ReconciliationStatus.choices,
                              default=ReconciliationStatus.RUNNING)
    trigger = models.CharField(max_length=20, blank=True)   # "schedule", "command", ...
    error = models.TextField(blank=True)
    list_requests = models.PositiveIntegerField(default=0)  # ListObjectsV2 calls made
    objects_listed = models.BigIntegerField(default=0)
    bytes_listed = models.BigIntegerField(default=0)
    unrecorded_count = models.BigIntegerField(default=0)
    missing_count = models.BigIntegerField(default=0)
    size_mismatch_count = models.BigIntegerField(default=0)
    expired_count = models.BigIntegerField(default=0)
    # Unfinished multipart uploads per bucket at scan time: {bucket: {"count", "oldest"}}
    multipart_uploads = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"reconciliation {self.started_at:%Y-%m-%d %H:%M} ({self.status})"

    @property
    def differences(self) -> int:
        return self.unrecorded_count + self.missing_count + self.size_mismatch_count


class LabUsageSnapshot(models.Model):
    """What one lab has in one bucket according to the server's listing, next to what the ledger
    says, and the differences between them (a sample of keys, and counts). `lab` is empty for
    objects of no lab: reference data, and keys outside any lab's prefix."""

    id = models.BigAutoField(primary_key=True)
    run = models.ForeignKey(ReconciliationRun, on_delete=models.CASCADE, related_name="snapshots")
    lab = models.ForeignKey(Lab, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    bucket = models.CharField(max_length=63)
    bucket_role = models.CharField(max_length=20)
    taken_at = models.DateTimeField(default=timezone.now)
    status = models.CharField(max_length=12, choices=ReconciliationStatus.choices)
    object_count = models.BigIntegerField(default=0)
    bytes_listed = models.BigIntegerField(default=0)
    ledger_count = models.BigIntegerField(default=0)
    ledger_bytes = models.BigIntegerField(default=0)
    unrecorded_count = models.BigIntegerField(default=0)    # listed, in no live ledger row
    unrecorded_bytes = models.BigIntegerField(default=0)
    unrecorded_sample = models.JSONField(default=list, blank=True)
    missing_count = models.BigIntegerField(default=0)       # in the ledger, not listed
    missing_bytes = models.BigIntegerField(default=0)
    missing_sample = models.JSONField(default=list, blank=True)
    size_mismatch_count = models.BigIntegerField(default=0)
    size_mismatch_sample = models.JSONField(default=list, blank=True)
    expired_count = models.BigIntegerField(
        "expired", default=0, help_text="removed by the bucket's expiry rule; ledger row closed")
    recent_count = models.BigIntegerField(
        "recent", default=0, help_text="written within the last hour, not judged yet")

    class Meta:
        ordering = ["bucket_role", "lab__name"]
        constraints = [models.UniqueConstraint(fields=["run", "lab", "bucket"],
                                               name="one_snapshot_per_run_lab_bucket")]

    def __str__(self) -> str:
        return f"{self.bucket} / {self.lab or 'no lab'}"

    @property
    def differences(self) -> int:
        return self.unrecorded_count + self.missing_count + self.size_mismatch_count
