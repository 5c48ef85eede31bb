"""The clinical report's versions (jobs.reports)."""

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from jobs.models.review import GenePanelVersion
from jobs.models.runs import Job
from tenants.models import Lab


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
    result_summary = models.CharField(max_length=500, blank=True)
    panel_version = models.ForeignKey(GenePanelVersion, on_delete=models.PROTECT, null=True,
                                      blank=True, related_name="+")
    # The review decisions (selected variants, their classifications) the draft was made from:
    # sign-out refuses a draft that no longer shows them.
    review_digest = models.CharField(max_length=64, blank=True)
    drafted_at = models.DateTimeField(null=True, blank=True)   # the current draft PDF's time
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
        indexes = [models.Index(fields=["lab", "status", "created_at"],
                                name="report_lab_queue"),   # the review queue
                   # the lab home page's newest signed reports
                   models.Index(fields=["lab", "status", "-signed_at", "-id"],
                                name="report_lab_signed")]
        constraints = [models.UniqueConstraint(fields=["job", "version"],
                                               name="one_report_per_version")]

    def __str__(self) -> str:
        return f"report v{self.version} of {self.job_id} ({self.status})"

    def visible_to(self, membership) -> bool:
        """Managers see every version; clinicians only signed ones, never a draft."""
        return membership.is_manager or self.status != ReportStatus.PENDING_REVIEW

    def can_download(self, membership, *, signed: bool) -> bool:
        """A signed PDF goes to any member who may see the version; a draft PDF to managers."""
        return self.visible_to(membership) and (signed or membership.is_manager)
