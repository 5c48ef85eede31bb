import uuid
from datetime import timedelta

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from tenants.models import Lab

SAMPLE_NAME_RULE = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
    "Use 1-64 letters, digits, dots, hyphens and underscores, starting with a letter or digit.")
EXTERNAL_ID_RULE = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}$",
    "Use the lab's pseudonymous identifier: 1-64 letters, digits and . _ : / -")


class Sex(models.TextChoices):
    FEMALE = "female", "Female"
    MALE = "male", "Male"
    OTHER = "other", "Other"
    UNKNOWN = "unknown", "Unknown"


class SampleStatus(models.TextChoices):
    UPLOADING = "uploading", "Uploading"
    VERIFYING = "verifying", "Verifying"
    READY = "ready", "Ready"
    SUBMITTED = "submitted", "Submitted"
    REJECTED = "rejected", "Rejected"


class Sample(models.Model):
    """What a clinician brings: pseudonymous identifiers and a verified FASTQ pair.

    `job_id` is reserved when the upload starts; raw-data keys carry it (`{lab}/{job}/...`) and the
    first pipeline job of this sample will use it as its id.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    lab = models.ForeignKey(Lab, on_delete=models.PROTECT, related_name="samples")
    job_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=64, validators=[SAMPLE_NAME_RULE])
    external_id = models.CharField("sample / patient identifier", max_length=64,
                                   validators=[EXTERNAL_ID_RULE])
    sex = models.CharField(max_length=10, choices=Sex.choices)
    clinical_indication = models.TextField(max_length=2000)
    hpo_terms = models.JSONField(default=list, blank=True)
    consent_confirmed_at = models.DateTimeField()
    status = models.CharField(max_length=12, choices=SampleStatus.choices,
                              default=SampleStatus.UPLOADING)
    rejection_reason = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                   related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # A rejected sample's name may be used again for a fresh attempt.
            models.UniqueConstraint(fields=["lab", "name"], condition=~Q(status="rejected"),
                                    name="one_active_sample_name_per_lab"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def latest_job(self):
        jobs = list(self.jobs.all())
        return jobs[0] if jobs else None

    @property
    def turnaround(self):
        """From the sample's creation to its latest job's end, once there is one."""
        job = self.latest_job
        return job.finished_at - self.created_at if job and job.finished_at else None

    def file(self, read: int) -> "SampleFile":
        return next(f for f in self.files.all() if f.read == read)

    @property
    def is_uploading(self) -> bool:
        return self.status == SampleStatus.UPLOADING


class FileStatus(models.TextChoices):
    PENDING = "pending", "Waiting for upload"
    UPLOADING = "uploading", "Uploading"
    UPLOADED = "uploaded", "Uploaded"
    VERIFIED = "verified", "Verified"
    CORRUPT = "corrupt", "Corrupt"
    REJECTED = "rejected", "Rejected"
    CANCELLED = "cancelled", "Cancelled"


class SampleFile(models.Model):
    """One FASTQ of a sample's pair, and the state of its upload to the raw-data bucket."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    lab = models.ForeignKey(Lab, on_delete=models.PROTECT, related_name="sample_files")
    sample = models.ForeignKey(Sample, on_delete=models.PROTECT, related_name="files")
    read = models.PositiveSmallIntegerField(choices=[(1, "R1"), (2, "R2")])
    original_name = models.CharField(max_length=255)
    size = models.BigIntegerField()
    key = models.CharField(max_length=512)
    status = models.CharField(max_length=12, choices=FileStatus.choices,
                              default=FileStatus.PENDING)
    multipart_upload_id = models.CharField(max_length=512, blank=True)
    part_size = models.BigIntegerField(default=0)
    client_sha256 = models.CharField(max_length=64, blank=True)
    sha256 = models.CharField("verified SHA-256", max_length=64, blank=True)
    read_count = models.BigIntegerField(null=True, blank=True)
    base_count = models.BigIntegerField(null=True, blank=True)
    min_length = models.IntegerField(null=True, blank=True)
    max_length = models.IntegerField(null=True, blank=True)
    mean_length = models.FloatField(null=True, blank=True)
    q30_fraction = models.FloatField(null=True, blank=True)
    uncompressed_bytes = models.BigIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    upload_started_at = models.DateTimeField(null=True, blank=True)
    uploaded_at = models.DateTimeField(null=True, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["read"]
        constraints = [models.UniqueConstraint(fields=["sample", "read"], name="one_file_per_read")]

    def __str__(self) -> str:
        return f"{self.sample.name} R{self.read}"

    @property
    def label(self) -> str:
        return f"R{self.read}"

    @property
    def part_count(self) -> int:
        return -(-self.size // self.part_size) if self.part_size else 0


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    ARCHIVED = "archived", "Archived"
    PURGED = "purged", "Purged"


class InvalidTransition(Exception):
    pass


class Job(models.Model):
    """One run of the pipeline on a ready sample. A retry is a new attempt of the same job (it
    resumes); a re-analysis is a new job. The job moves between states only through its methods,
    which the services call under a row lock.

    The lease (owner, expiry, heartbeat) is what guarantees a run never executes twice at once:
    django-q2 alone can lose a task (Redis) or run one again after a worker died.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    lab = models.ForeignKey(Lab, on_delete=models.PROTECT, related_name="jobs")
    sample = models.ForeignKey(Sample, on_delete=models.PROTECT, related_name="jobs")
    status = models.CharField(max_length=12, choices=JobStatus.choices, default=JobStatus.QUEUED)
    submitted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                     related_name="+")
    submitted_at = models.DateTimeField(default=timezone.now, editable=False)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    runner = models.CharField(max_length=12, blank=True)          # "nextflow" or "local"
    attempts = models.PositiveSmallIntegerField(default=0)
    max_attempts = models.PositiveSmallIntegerField(default=3)
    lease_owner = models.CharField(max_length=200, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    cancel_requested = models.BooleanField(default=False)
    progress = models.JSONField(default=list, blank=True)          # [{process, status, ...}]
    failed_step = models.CharField(max_length=100, blank=True)
    exit_code = models.IntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    legal_hold = models.BooleanField(default=False)
    runner_pgid = models.IntegerField(null=True, blank=True)   # to stop a dead worker's run
    runner_host = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-submitted_at"]

    def __str__(self) -> str:
        return f"{self.sample.name} ({self.status})"

    # --- rules about one row ---

    def lease_is_live(self, now=None) -> bool:
        now = now or timezone.now()
        return bool(self.lease_owner and self.lease_expires_at and self.lease_expires_at > now)

    def can_start(self, now=None) -> bool:
        if self.status == JobStatus.QUEUED:
            return self.attempts < self.max_attempts
        # A run whose worker died: its lease ran out while it still says "running".
        return (self.status == JobStatus.RUNNING and not self.lease_is_live(now)
                and self.attempts < self.max_attempts)

    def can_cancel(self) -> bool:
        return self.status in (JobStatus.QUEUED, JobStatus.RUNNING)

    def can_retry(self) -> bool:
        return self.status == JobStatus.FAILED

    # --- transitions ---

    def _require(self, allowed: bool, action: str) -> None:
        if not allowed:
            raise InvalidTransition(f"cannot {action} a job that is {self.status}")

    def start(self, *, owner: str, lease_seconds: int, now=None) -> None:
        now = now or timezone.now()
        self._require(self.can_start(now), "start")
        self.status = JobStatus.RUNNING
        self.attempts += 1
        self.lease_owner, self.heartbeat_at = owner, now
        self.lease_expires_at = now + timedelta(seconds=lease_seconds)
        self.started_at = self.started_at or now
        self.failed_step, self.exit_code, self.error = "", None, ""

    def renew(self, *, owner: str, lease_seconds: int, now=None) -> bool:
        """Extend the lease; False when this worker no longer holds it."""
        now = now or timezone.now()
        if self.status != JobStatus.RUNNING or self.lease_owner != owner:
            return False
        self.heartbeat_at = now
        self.lease_expires_at = now + timedelta(seconds=lease_seconds)
        return True

    def succeed(self, *, owner: str, now=None) -> None:
        self._require(self.status == JobStatus.RUNNING and self.lease_owner == owner, "succeed")
        self.status, self.finished_at = JobStatus.SUCCEEDED, now or timezone.now()
        self.lease_owner, self.lease_expires_at = "", None

    def fail(self, *, owner: str, step: str, exit_code: int | None, error: str, now=None) -> None:
        self._require(self.status == JobStatus.RUNNING and self.lease_owner == owner, "fail")
        self.status, self.finished_at = JobStatus.FAILED, now or timezone.now()
        self.failed_step, self.exit_code, self.error = step, exit_code, error
        self.lease_owner, self.lease_expires_at = "", None

    def cancel(self, now=None) -> None:
        self._require(self.can_cancel(), "cancel")
        self.status, self.finished_at = JobStatus.CANCELLED, now or timezone.now()
        self.cancel_requested = True
        self.lease_owner, self.lease_expires_at = "", None

    def retry(self) -> None:
        self._require(self.can_retry(), "retry")
        self.status, self.finished_at = JobStatus.QUEUED, None
        self.max_attempts = max(self.max_attempts, self.attempts + 1)


class JobOutput(models.Model):
    """A published, verified pipeline output: where it is, how big, and its SHA-256."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    lab = models.ForeignKey(Lab, on_delete=models.PROTECT, related_name="job_outputs")
    job = models.ForeignKey(Job, on_delete=models.PROTECT, related_name="outputs")
    path = models.CharField(max_length=300)          # as published by the pipeline: "vcf/S.vcf.gz"
    bucket_role = models.CharField(max_length=20)    # "intermediate", "results", "logs"
    key = models.CharField(max_length=512)
    size = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    verified_at = models.DateTimeField()

    class Meta:
        ordering = ["path"]
        constraints = [models.UniqueConstraint(fields=["job", "path"], name="one_output_per_path")]

    def __str__(self) -> str:
        return self.path
