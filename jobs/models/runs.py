"""One run of the pipeline on a ready sample, and the rules of its states (jobs.runs; retention
transitions are used by jobs.records)."""

import uuid
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from jobs.models.intake import Sample
from tenants.models import Lab


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    ARCHIVED = "archived", "Archived"
    PURGED = "purged", "Purged"


class StepStatus(models.TextChoices):
    """The state of one pipeline step in `Job.progress` (read from the runner's trace)."""
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    CACHED = "cached", "Cached"          # done by an earlier attempt; -resume reused it
    FAILED = "failed", "Failed"
    STOPPED = "stopped", "Stopped"       # ended by a cancel or another step's failure


class QcVerdict(models.TextChoices):
    PASS = "pass", "QC passed"
    WARN = "warn", "QC warnings"
    FAIL = "fail", "QC failed"


class InvalidTransition(Exception):
    pass


class JobQuerySet(models.QuerySet):
    """Retention as queries: the same dates as `Job.archive_due_on` and `Job.purge_due_at`."""

    def archiving_by(self, moment):
        """Succeeded jobs whose results period ends by `moment` (archive due then)."""
        return self.filter(status=JobStatus.SUCCEEDED,
                           finished_at__lte=moment - timedelta(days=settings.ARCHIVE_AFTER_DAYS))

    def due_for_archiving(self, now=None):
        return self.archiving_by(now or timezone.now())

    def due_for_purge(self, now=None):
        now = now or timezone.now()
        return self.filter(
            status=JobStatus.ARCHIVED,
            archived_at__lte=now - timedelta(days=settings.ARCHIVE_RETENTION_DAYS))


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
    queued_at = models.DateTimeField(default=timezone.now)   # last handed to the queue
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    runner = models.CharField(max_length=12, blank=True)          # "nextflow" or "local"
    attempts = models.PositiveSmallIntegerField(default=0)
    max_attempts = models.PositiveSmallIntegerField(default=3)
    lease_owner = models.CharField(max_length=200, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    cancel_requested = models.BooleanField(default=False)
    progress = models.JSONField(default=list, blank=True)  # [{process, status: StepStatus, ...}]
    failed_step = models.CharField(max_length=100, blank=True)
    exit_code = models.IntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    runner_pgid = models.IntegerField(null=True, blank=True)   # to stop a dead worker's run
    runner_host = models.CharField(max_length=200, blank=True)
    # QC figures read from qc/{sample}.qc.json when the outputs are published
    qc = models.JSONField(default=dict, blank=True)
    # The overall verdict on those figures (jobs.results.qc.qc_verdict), kept here so that lists
    # show it without reading the figures; blank until the outputs are published.
    qc_verdict = models.CharField(max_length=4, choices=QcVerdict.choices, blank=True)
    # Why a manager started this analysis of a sample that already had one (blank for the first).
    reanalysis_reason = models.TextField(blank=True)
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

    objects = JobQuerySet.as_manager()

    class Meta:
        ordering = ["-submitted_at"]
        indexes = [models.Index(fields=["-submitted_at", "-id"], name="job_newest"),  # admin list
                   # jobs by state and the oldest queued job (/metrics), the reaper's queries
                   models.Index(fields=["status", "queued_at"], name="job_status_queued")]

    def __str__(self) -> str:
        return f"{self.sample.name} ({self.status})"

    def progress_steps(self) -> list[dict]:
        """`progress` with each step's status label, for display."""
        labels = dict(StepStatus.choices)
        return [{**step, "label": labels.get(step.get("status"), step.get("status"))}
                for step in self.progress]

    def lease_is_live(self, now=None) -> bool:
        now = now or timezone.now()
        return bool(self.lease_owner and self.lease_expires_at and self.lease_expires_at > now)

    def can_start(self, now=None) -> bool:
        if self.status == JobStatus.QUEUED:
            return self.attempts < self.max_attempts
        # A run whose worker died: its lease ran out while it still says "running".
        return (self.status == JobStatus.RUNNING and not self.lease_is_live(now)
                and self.attempts < self.max_attempts)

    def _cancellable(self) -> bool:
        return self.status in (JobStatus.QUEUED, JobStatus.RUNNING)

    def _retryable(self) -> bool:
        return self.status == JobStatus.FAILED

    def may_cancel(self, membership) -> bool:
        """A lab manager, or the clinician who submitted the job."""
        return membership.is_manager or self.submitted_by_id == membership.user_id

    def can_cancel(self, membership) -> bool:
        return self._cancellable() and self.may_cancel(membership)

    def may_retry(self, membership) -> bool:
        """Lab managers retry a failed job (the run resumes where it stopped)."""
        return membership.is_manager

    def can_retry(self, membership) -> bool:
        return self._retryable() and self.may_retry(membership)

    def results_released(self) -> bool:
        """Results reach clinicians once a manager has signed a report of the job out (a
        superseded version was signed too)."""
        return self.reports.filter(signed_at__isnull=False).exists()

    def can_download(self, membership) -> bool:
        """Managers review results before sign-out; clinicians receive them once released."""
        return membership.is_manager or self.results_released()

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
        self._require(self._cancellable(), "cancel")
        self.status, self.finished_at = JobStatus.CANCELLED, now or timezone.now()
        self.cancel_requested = True
        self.lease_owner, self.lease_expires_at = "", None

    def can_give_up(self, now=None) -> bool:
        """A run whose worker died with no attempt left."""
        return (self.status == JobStatus.RUNNING and not self.lease_is_live(now)
                and self.attempts >= self.max_attempts)

    def give_up(self, now=None) -> None:
        """The reaper fails a run whose worker died once too often; a manager can retry it."""
        now = now or timezone.now()
        self._require(self.can_give_up(now), "give up on")
        self.status, self.finished_at = JobStatus.FAILED, now
        self.failed_step = self.failed_step or "worker"
        self.error = (f"The worker running this job stopped {self.attempts} times; retry it "
                      "when the workers are healthy.")
        self.lease_owner, self.lease_expires_at = "", None
        # the step that was running when the worker died ran no further
        self.progress = [{**step, "status": StepStatus.STOPPED}
                         if step.get("status") == StepStatus.RUNNING else step
                         for step in self.progress]

    def needs_requeue(self, now=None) -> bool:
        """A queued job no worker took within the wait, or a run whose worker died (its lease ran
        out): queued again at once, then once per wait until a worker takes it."""
        now = now or timezone.now()
        waited = self.queued_at < now - timedelta(seconds=settings.REQUEUE_AFTER_SECONDS)
        if self.status == JobStatus.QUEUED:
            return waited
        return (self.status == JobStatus.RUNNING and not self.lease_is_live(now)
                and (waited or bool(self.lease_expires_at
                                    and self.queued_at <= self.lease_expires_at)))

    def requeue(self, now=None) -> None:
        self._require(self.needs_requeue(now) and not self.can_give_up(now), "queue again")
        self.queued_at = now or timezone.now()

    def retry(self, now=None) -> None:
        self._require(self._retryable(), "retry")
        self.status, self.finished_at = JobStatus.QUEUED, None
        self.queued_at = now or timezone.now()
        self.max_attempts = max(self.max_attempts, self.attempts + 1)

    def archive_due_on(self) -> date | None:
        """When a succeeded job's hot files are archived: the results period
        (WES_ARCHIVE_AFTER_DAYS) after it finished."""
        if self.status != JobStatus.SUCCEEDED or not self.finished_at:
            return None
        return (self.finished_at + timedelta(days=settings.ARCHIVE_AFTER_DAYS)).date()

    def purge_due_at(self) -> datetime | None:
        """When an archived job's archive is purged: the archive period
        (WES_ARCHIVE_RETENTION_DAYS) after archiving."""
        if not self.archived_at:
            return None
        return self.archived_at + timedelta(days=settings.ARCHIVE_RETENTION_DAYS)

    def expires_on(self) -> date | None:
        """When the job's data is purged, projected from the archive date for a job not archived
        yet; None for jobs whose data is not kept."""
        if self.status == JobStatus.ARCHIVED and self.archived_at:
            return self.purge_due_at().date()
        due = self.archive_due_on()
        return due + timedelta(days=settings.ARCHIVE_RETENTION_DAYS) if due else None

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
