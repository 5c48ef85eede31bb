"""What a clinician brings: a sample's identifiers and its FASTQ pair (jobs.intake)."""

import uuid
from datetime import datetime, timedelta
from functools import cached_property
from typing import NamedTuple

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from storage.buckets import bucket
from storage.keys import SAMPLE_NAME_RULE
from tenants.models import Lab

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


class SampleStage(NamedTuple):
    code: str      # also the CSS class: status-<code>
    label: str


# Where a sample with an analysis is, by the status of its current (newest) job.
JOB_STAGES = {
    "queued": SampleStage("queued", "Analysis queued"),
    "running": SampleStage("running", "Analysis running"),
    "failed": SampleStage("failed", "Analysis failed"),
    "cancelled": SampleStage("cancelled", "Analysis cancelled"),
}


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
    # Why verification is waiting (storage unreachable), and how often it was tried: each retry
    # waits longer (jobs.intake.verification.verifications_resume).
    verification_note = models.TextField(blank=True)
    verification_retries = models.PositiveSmallIntegerField(default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT,
                                   related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        # The sample list's orders within a lab (jobs/intake/selectors.py SAMPLE_SORTS), and the
        # admin's list of every lab's samples, newest first.
        indexes = [models.Index(fields=["lab", "-created_at", "-id"], name="sample_lab_newest"),
                   models.Index(fields=["lab", "name", "id"], name="sample_lab_name"),
                   models.Index(fields=["-created_at", "-id"], name="sample_newest")]
        constraints = [
            # A rejected sample's name may be used again for a fresh attempt.
            models.UniqueConstraint(fields=["lab", "name"], condition=~Q(status="rejected"),
                                    name="one_active_sample_name_per_lab"),
        ]

    def __str__(self) -> str:
        return self.name

    @cached_property
    def latest_job(self):
        """The current analysis: the newest job (`Job.Meta.ordering`). Earlier jobs, their outputs
        and reports stay as they were when a manager starts a new one."""
        jobs = list(self.jobs.all())
        return jobs[0] if jobs else None

    @property
    def changing(self) -> bool:
        """Something about the sample changes without anyone acting: its upload, its
        verification, or its current analysis waiting in the queue or running (the sample page
        polls while this holds)."""
        if self.status in (SampleStatus.UPLOADING, SampleStatus.VERIFYING):
            return True
        job = self.latest_job
        return bool(job and job.status in ("queued", "running"))

    def may_reanalyse(self, membership) -> bool:
        """Lab managers start a new analysis of a sample (jobs.runs.services.sample_reanalyse)."""
        return membership.is_manager

    def can_reanalyse(self, membership) -> bool:
        """A submitted sample whose analyses have all ended (the raw files are checked in
        storage when it is asked for)."""
        return (self.may_reanalyse(membership) and self.status == SampleStatus.SUBMITTED
                and not self.changing)

    @property
    def stage(self) -> SampleStage:
        """Where the sample is, in words, from intake to sign-out: the one place every page takes
        a sample's status from. Reads the current job and its reports (prefetch `jobs__reports`
        for lists)."""
        job = self.latest_job
        if self.status != SampleStatus.SUBMITTED or job is None:
            label = "Ready to submit" if self.status == SampleStatus.READY \
                else self.get_status_display()
            return SampleStage(self.status, label)
        if job.status in JOB_STAGES:
            return JOB_STAGES[job.status]
        reports = list(job.reports.all())
        if any(r.signed_at for r in reports):
            if any(r.status == "pending_review" for r in reports):
                return SampleStage("pending_review", "Amendment awaiting review")
            return SampleStage("signed_out", "Report signed out")
        return SampleStage("pending_review", "Awaiting review")

    @property
    def turnaround(self):
        """Received → first sign-out of the latest analysis's report (→ its end until then)."""
        end = self.signed_out_at or (self.latest_job.finished_at if self.latest_job else None)
        return end - self.created_at if end else None

    @property
    def signed_out_at(self):
        job = self.latest_job
        signed = [r.signed_at for r in job.reports.all() if r.signed_at] if job else []
        return min(signed) if signed else None

    @property
    def reads_kept_until(self) -> datetime | None:
        """When the raw-data bucket's expiry rule may remove the first of the uploaded reads:
        a sample must be submitted before then (DESIGN.md: uploads are kept 7 days)."""
        uploaded = [f.uploaded_at for f in self.files.all() if f.uploaded_at]
        if not uploaded:
            return None
        return min(uploaded) + timedelta(days=bucket("raw").expire_days)

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
