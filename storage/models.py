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


class ScrubStatus(models.TextChoices):
    RUNNING = "running", "Running"
    INTERRUPTED = "interrupted", "Interrupted (resumable)"
    CLEAN = "clean", "Clean"
    FINDINGS = "findings", "Findings"
    FAILED = "failed", "Failed (storage unavailable)"


class ScrubRun(models.Model):
    """One pass of the storage scrub (storage/scrub.py) over the ledger's live objects, in
    (bucket, key) order from `start_*`; `cursor_*` is the last object checked, so an interrupted
    run continues there and the next sample run starts after it."""

    id = models.BigAutoField(primary_key=True)
    trigger = models.CharField(max_length=20)                   # "command", "schedule"
    status = models.CharField(max_length=12, choices=ScrubStatus.choices,
                              default=ScrubStatus.RUNNING)
    limit = models.PositiveIntegerField(null=True, blank=True)  # objects to check; None: all
    start_bucket = models.CharField(max_length=63, blank=True)
    start_key = models.CharField(max_length=1024, blank=True)
    cursor_bucket = models.CharField(max_length=63, blank=True)
    cursor_key = models.CharField(max_length=1024, blank=True)
    wrapped = models.BooleanField(default=False)   # passed the end and went on from the start
    objects_checked = models.PositiveIntegerField(default=0)
    objects_size_only = models.PositiveIntegerField(default=0)  # no SHA-256 recorded anywhere
    bytes_read = models.BigIntegerField(default=0)
    findings_count = models.PositiveIntegerField(default=0)     # problems seen by this run
    new_findings_count = models.PositiveIntegerField(default=0)  # of which not open before
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    heartbeat_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["-started_at"])]

    def __str__(self) -> str:
        return f"scrub {self.pk} ({self.get_status_display().lower()})"

    @property
    def finished(self) -> bool:
        return self.status in (ScrubStatus.CLEAN, ScrubStatus.FINDINGS)


class ScrubKind(models.TextChoices):
    MISSING = "missing", "Missing"
    SIZE_MISMATCH = "size_mismatch", "Size differs"
    SHA256_MISMATCH = "sha256_mismatch", "SHA-256 differs"
    UNREADABLE = "unreadable", "Unreadable"


class ScrubFinding(models.Model):
    """An object the scrub found missing, changed or unreadable. Open while `resolved_at` is
    empty: a later run that reads the object intact again, or finds the portal deleted it,
    resolves it."""

    id = models.BigAutoField(primary_key=True)
    run = models.ForeignKey(ScrubRun, on_delete=models.PROTECT, related_name="findings")
    bucket = models.CharField(max_length=63)
    key = models.CharField(max_length=1024)
    version_id = models.CharField(max_length=1024, blank=True)  # the version read (the latest)
    lab = models.ForeignKey("tenants.Lab", on_delete=models.PROTECT, null=True, blank=True,
                            related_name="+")
    kind = models.CharField(max_length=16, choices=ScrubKind.choices)
    expected = models.CharField(max_length=255)     # "1,024 bytes, SHA-256 ab12... (ledger)"
    found = models.TextField()
    first_seen = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["bucket", "key"],
                                               condition=Q(resolved_at__isnull=True),
                                               name="one_open_scrub_finding_per_key")]
        indexes = [models.Index(fields=["-first_seen"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.bucket}/{self.key}"


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
