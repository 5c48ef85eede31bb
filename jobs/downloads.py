"""Downloads of pipeline outputs: a presigned GET valid for minutes, never proxied bytes.

Each URL is issued only after the access check, for an object the database says belongs to the
requesting lab's job, and with one audit event (patient data accessed and exported, with the
reason the user gave) written before the URL leaves the portal. The URL itself is not logged.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from jobs.models import Job, JobOutput, JobStatus, Report
from jobs.reports import is_released
from storage import s3
from storage.buckets import bucket_name
from tenants import actions
from tenants.audit import Actor, audit_record

REASONS = [
    ("clinical_care", "Clinical care of this patient"),
    ("lab_review", "Laboratory review or quality control"),
    ("reanalysis", "Re-analysis or second opinion"),
    ("other", "Other (explain)"),
]


def can_download(membership, job: Job) -> bool:
    """Managers review results before sign-out; clinicians receive them once a report of the
    job has been signed out."""
    return membership.is_manager or is_released(job)


def _check_reason(reason: str, note: str) -> None:
    if reason not in dict(REASONS):
        raise ValidationError("Choose why you are exporting this file.")
    if reason == "other" and not note.strip():
        raise ValidationError("Say why you are exporting this file: with “Other”, the details "
                              "are required.")


def output_download_url(*, membership, output: JobOutput, reason: str, note: str = "",
                        request=None) -> str:
    if output.lab_id != membership.lab_id:
        raise PermissionDenied("That file belongs to another lab.")
    if not can_download(membership, output.job):
        raise PermissionDenied("Results can be downloaded once a lab manager has signed the "
                               "report out.")
    # An archived job has output rows again only once restored to the results bucket.
    if output.job.status not in (JobStatus.SUCCEEDED, JobStatus.ARCHIVED):
        raise ValidationError("Only the outputs of a succeeded job can be downloaded.")
    _check_reason(reason, note)
    return _audited_url(
        membership=membership, action=actions.OUTPUT_DOWNLOADED, lab=output.lab,
        resource_type="job_output", resource_id=output.pk, bucket=bucket_name(output.bucket_role),
        key=output.key, file_name=output.path.rsplit("/", 1)[-1], reason=reason, note=note,
        request=request,
        details={"job": str(output.job_id), "sample": str(output.job.sample_id),
                 "path": output.path, "sha256": output.sha256, "size": output.size})


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
    if not signed and not membership.is_manager:
        raise PermissionDenied("Draft reports are for lab managers only.")
    _check_reason(reason, note)
    job = report.job
    if job.status in (JobStatus.ARCHIVED, JobStatus.PURGED) and \
            s3.object_info(bucket_name("results"), key) is None:
        raise ValidationError(
            f"This analysis was {job.get_status_display().lower()} on "
            f"{(job.purged_at or job.archived_at):%Y-%m-%d}, so its report is no longer in the "
            "results bucket." + (" Ask an administrator to restore it from the archive."
                                 if job.status == JobStatus.ARCHIVED else ""))
    return _audited_url(
        membership=membership, action=actions.REPORT_DOWNLOADED, lab=report.lab,
        resource_type="report", resource_id=report.pk, bucket=bucket_name("results"), key=key,
        file_name=key.rsplit("/", 1)[-1], reason=reason, note=note, request=request,
        details={"job": str(report.job_id), "sample": str(report.job.sample_id),
                 "version": report.version, "signed": signed, "sha256": digest,
                 "size": report.signed_size if signed else report.draft_size})


def _audited_url(*, membership, action: str, lab, resource_type: str, resource_id, bucket: str,
                 key: str, file_name: str, reason: str, note: str, details: dict,
                 request) -> str:
    """The one place a presigned GET is issued: its audit event (PHI accessed and exported, the
    reason, the size for usage) is written in the same transaction, and the URL is not logged."""
    expires_in = settings.STORAGE_PRESIGNED_EXPIRY_SECONDS
    with transaction.atomic():
        audit_record(actor=Actor.for_user(membership.user), action=action, lab=lab,
                     resource_type=resource_type, resource_id=resource_id, phi_accessed=True,
                     data_exported=True, request=request,
                     details={**details, "reason": reason, "note": note.strip()[:500],
                              "expires_in": expires_in})
        return s3.presign_download(bucket, key, file_name=file_name, expires_in=expires_in)
