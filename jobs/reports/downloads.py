"""Downloads of report PDFs: a signed version for any member, a draft for managers only; audited
and presigned like every download (jobs/results/downloads.py)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError

from jobs.models import JobStatus, Report
from jobs.results.downloads import audited_download_url, check_reason
from storage import s3
from storage.buckets import bucket_name
from tenants import audit_actions


def report_download_url(*, membership, report: Report, signed: bool, reason: str,
                        note: str = "", request=None) -> str:
    """A report PDF: a signed version for any member, a draft for managers only."""
    if report.lab_id != membership.lab_id:
        raise PermissionDenied("That report belongs to another lab.")
    key, digest = (report.signed_key, report.signed_sha256) if signed \
        else (report.draft_key, report.draft_sha256)
    if not key:
        raise ValidationError("This version has no signed PDF yet." if signed
                              else "This version has no draft PDF.")
    if not report.can_download(membership, signed=signed):
        raise PermissionDenied("Draft reports are for lab managers only.")
    check_reason(reason, note)
    job = report.job
    if job.status in (JobStatus.ARCHIVED, JobStatus.PURGED) and \
            s3.object_info(bucket_name("results"), key) is None:
        raise ValidationError(
            f"This analysis was {job.get_status_display().lower()} on "
            f"{(job.purged_at or job.archived_at):%Y-%m-%d}, so its report is no longer in the "
            "results bucket." + (" Ask an administrator to restore it from the archive."
                                 if job.status == JobStatus.ARCHIVED else ""))
    return audited_download_url(
        membership=membership, action=audit_actions.REPORT_DOWNLOADED, lab=report.lab,
        resource_type="report", resource_id=report.pk, bucket=bucket_name("results"), key=key,
        file_name=key.rsplit("/", 1)[-1], reason=reason, note=note, request=request,
        details={"job": str(report.job_id), "sample": str(report.job.sample_id),
                 "version": report.version, "signed": signed, "sha256": digest,
                 "size": report.signed_size if signed else report.draft_size})
