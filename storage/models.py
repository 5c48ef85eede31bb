from django.db import models
from django.db.models import Q
from django.utils import timezone


class StoredObject(models.Model):
    """The ledger: one row per object the portal wrote, closed when the portal deletes it.

    The portal writes every object itself, so usage reports come from this table instantly; the
    nightly reconciliation compares it with what the storage server lists.
    """

    id = models.BigAutoField(primary_key=True)
    bucket = models.CharField(max_length=63)
    key = models.CharField(max_length=1024)
    # By name, not import: storage sits below tenants and imports no app (DESIGN.md).
    lab = models.ForeignKey("tenants.Lab", on_delete=models.PROTECT, null=True, blank=True,
                            related_name="+")
    job_id = models.UUIDField(null=True, blank=True)
    size = models.BigIntegerField()
    sha256 = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["bucket", "key"],
                                               condition=Q(deleted_at__isnull=True),
                                               name="one_live_ledger_row_per_key")]
        indexes = [models.Index(fields=["lab", "bucket"]), models.Index(fields=["created_at"])]

    def __str__(self) -> str:
        return f"{self.bucket}/{self.key}"


class MetricCount(models.Model):
    """One series of a count that web and worker processes on any machine add to (bytes
    uploaded, lease takeovers ...; common/metrics.py RECORDED names them), read by /metrics at
    scrape time. Added to in the transaction of what it counts, so a rolled-back download is not
    counted. Lives here, the lowest layer with tables, so every layer above can record."""

    name = models.CharField(max_length=64)
    labels = models.CharField(max_length=255, blank=True)    # JSON object, keys sorted
    value = models.FloatField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["name", "labels"],
                                               name="one_metric_count_per_series")]

    def __str__(self) -> str:
        return f"{self.name}{self.labels} = {self.value}"


class CheckResult(models.Model):
    """The latest outcome of one kind of check (the audit chain walk, storage drift), one row per
    kind, written by whoever ran it (command, schedule, admin button) for /metrics and alerts."""

    kind = models.CharField(max_length=64, unique=True)      # "audit_chain", "storage_drift"
    ok = models.BooleanField()
    problems = models.PositiveIntegerField(default=0)
    detail = models.TextField(blank=True)       # the first problem, in words
    checked_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.kind}: {'ok' if self.ok else f'{self.problems} problem(s)'}"
