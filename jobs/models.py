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
        """Received → first sign-out of the latest analysis's report (→ its end until then)."""
        end = self.signed_out_at or (self.latest_job.finished_at if self.latest_job else None)
        return end - self.created_at if end else None

    @property
    def signed_out_at(self):
        job = self.latest_job
        signed = [r.signed_at for r in job.reports.all() if r.signed_at] if job else []
        return min(signed) if signed else None

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
    runner_pgid = models.IntegerField(null=True, blank=True)   # to stop a dead worker's run
    runner_host = models.CharField(max_length=200, blank=True)
    # QC figures read from qc/{sample}.qc.json when the outputs are published
    qc = models.JSONField(default=dict, blank=True)
    # Retention: a legal hold stops archiving and purging until it is lifted.
    legal_hold = models.BooleanField(default=False)
    legal_hold_reason = models.TextField(blank=True)
    legal_hold_by = models.CharField(max_length=254, blank=True)
    legal_hold_at = models.DateTimeField(null=True, blank=True)
    archived_at = models.DateTimeField(null=True, blank=True)
    archive_key = models.CharField(max_length=512, blank=True)
    archive_size = models.BigIntegerField(null=True, blank=True)
    archive_sha256 = models.CharField(max_length=64, blank=True)
    archive_manifest = models.JSONField(default=list, blank=True)  # [{path, size, sha256}]
    purged_at = models.DateTimeField(null=True, blank=True)

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

    # --- retention: archive, purge, legal hold (storage.archiving and storage.retention) ---

    def can_archive(self) -> bool:
        return self.status == JobStatus.SUCCEEDED and not self.legal_hold

    def can_purge(self) -> bool:
        return self.status == JobStatus.ARCHIVED and not self.legal_hold

    def _require_no_hold(self, action: str) -> None:
        if self.legal_hold:
            raise InvalidTransition(f"cannot {action} a job under legal hold "
                                    f"({self.legal_hold_reason})")

    def plan_archive(self, *, key: str) -> None:
        """Fix the archive's key before anything is written, so a retry writes the same object."""
        self._require_no_hold("archive")
        self._require(self.can_archive(), "archive")
        self.archive_key = self.archive_key or key

    def record_archive(self, *, size: int, sha256: str, manifest: list[dict]) -> None:
        """The archive is written (not yet verified, hot files still in place)."""
        self._require_no_hold("archive")
        self._require(self.can_archive() and bool(self.archive_key), "record an archive of")
        self.archive_size, self.archive_sha256, self.archive_manifest = size, sha256, manifest

    def discard_archive(self) -> None:
        """Forget an archive that failed verification; the next pass writes it again."""
        self._require(self.status == JobStatus.SUCCEEDED, "discard the archive of")
        self.archive_size, self.archive_sha256, self.archive_manifest = None, "", []

    def archive(self, now=None) -> None:
        """The archive was read back and verified, and the hot files are gone."""
        self._require_no_hold("archive")
        self._require(self.can_archive() and bool(self.archive_sha256), "archive")
        self.status, self.archived_at = JobStatus.ARCHIVED, now or timezone.now()

    def purge(self, now=None) -> None:
        self._require_no_hold("purge")
        self._require(self.can_purge(), "purge")
        self.status, self.purged_at = JobStatus.PURGED, now or timezone.now()

    def place_hold(self, *, by: str, reason: str, now=None) -> None:
        if self.legal_hold:
            raise InvalidTransition(f"this job is already under legal hold "
                                    f"({self.legal_hold_reason})")
        self._require(self.status != JobStatus.PURGED, "place a legal hold on")
        if not reason.strip():
            raise ValueError("a legal hold needs a reason")
        self.legal_hold, self.legal_hold_reason = True, reason.strip()
        self.legal_hold_by, self.legal_hold_at = by[:254], now or timezone.now()

    def lift_hold(self) -> None:
        if not self.legal_hold:
            raise InvalidTransition("this job is not under legal hold")
        self.legal_hold, self.legal_hold_reason = False, ""
        self.legal_hold_by, self.legal_hold_at = "", None


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


class Impact(models.TextChoices):
    HIGH = "HIGH", "High"
    MODERATE = "MODERATE", "Moderate"
    LOW = "LOW", "Low"
    MODIFIER = "MODIFIER", "Modifier"


class Variant(models.Model):
    """One row of a job's final variant table, loaded when the job's outputs are published so that
    the viewer filters, sorts and pages in the database."""

    id = models.BigAutoField(primary_key=True)
    lab = models.ForeignKey(Lab, on_delete=models.PROTECT, related_name="+")
    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="variants")
    variant_id = models.CharField(max_length=40)
    chrom = models.CharField(max_length=64)
    pos = models.BigIntegerField()
    ref = models.TextField()
    alt = models.TextField()
    genotype = models.CharField(max_length=16, blank=True)
    depth = models.IntegerField(null=True, blank=True)
    allele_depth = models.CharField(max_length=64, blank=True)
    vaf = models.FloatField(null=True, blank=True)
    qual = models.FloatField(null=True, blank=True)
    filter = models.CharField(max_length=200, blank=True)
    gene = models.CharField(max_length=64, blank=True)
    transcript = models.CharField(max_length=64, blank=True)
    consequence = models.CharField(max_length=200, blank=True)
    impact = models.CharField(max_length=10, choices=Impact.choices, blank=True)
    hgvs_p = models.CharField(max_length=200, blank=True)
    hgvs_c = models.CharField(max_length=200, blank=True)
    protein_change = models.CharField(max_length=200, blank=True)
    dna_change = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["chrom", "pos"]
        constraints = [models.UniqueConstraint(fields=["job", "variant_id"],
                                               name="one_row_per_variant_id")]
        indexes = [models.Index(fields=["job", "gene"]), models.Index(fields=["job", "impact"])]

    def __str__(self) -> str:
        return self.variant_id


class ReportStatus(models.TextChoices):
    PENDING_REVIEW = "pending_review", "Pending review"
    SIGNED_OUT = "signed_out", "Signed out"
    SUPERSEDED = "superseded", "Superseded by an amendment"


class Report(models.Model):
    """One version of a job's clinical report. Each version starts as a draft pending review;
    signing it out stores a signed PDF. An amendment is a new version that a manager reviews and
    signs like the first; signing it marks the version it amends superseded. Every PDF is a new
    object key in the versioned results bucket, never overwritten.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    lab = models.ForeignKey(Lab, on_delete=models.PROTECT, related_name="reports")
    job = models.ForeignKey(Job, on_delete=models.PROTECT, related_name="reports")
    version = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=16, choices=ReportStatus.choices,
                              default=ReportStatus.PENDING_REVIEW)
    interpretation = models.TextField(blank=True)
    draft_key = models.CharField(max_length=512, blank=True)
    draft_sha256 = models.CharField(max_length=64, blank=True)
    draft_size = models.BigIntegerField(null=True, blank=True)
    signed_key = models.CharField(max_length=512, blank=True)
    signed_sha256 = models.CharField(max_length=64, blank=True)
    signed_size = models.BigIntegerField(null=True, blank=True)
    signed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True,
                                  blank=True, related_name="+")
    signed_at = models.DateTimeField(null=True, blank=True)
    meaning = models.CharField(max_length=200, blank=True)
    comment = models.TextField(blank=True)
    amends = models.OneToOneField("self", on_delete=models.PROTECT, null=True, blank=True,
                                  related_name="amended_by")
    amendment_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["job", "-version"]
        constraints = [models.UniqueConstraint(fields=["job", "version"],
                                               name="one_report_per_version")]

    def __str__(self) -> str:
        return f"report v{self.version} of {self.job_id} ({self.status})"
