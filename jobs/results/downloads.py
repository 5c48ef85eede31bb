"""Downloads of pipeline outputs (report PDFs: jobs/reports/downloads.py): a presigned GET valid for minutes, never proxied bytes.

Each URL is issued only after the access check, for an object the database says belongs to the
requesting lab's job, and with one audit event (patient data accessed and exported, with the
reason the user gave) written before the URL leaves the portal. The URL itself is not logged.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from jobs.models import JobOutput, JobStatus
from storage import metric_records, s3
from storage.buckets import bucket_name
from tenants import audit_actions
from tenants.audit import Actor, audit_record

REASONS = [
    ("clinical_care", "Clinical care of this patient"),
    ("lab_review", "Laboratory review or quality control"),
    ("reanalysis", "Re-analysis or second opinion"),
    ("other", "Other (explain)"),
]


def check_reason(reason: str, note: str) -> None:
    if reason not in dict(REASONS):
        raise ValidationError("Choose why you are exporting this file.")
    if reason == "other" and not note.strip():
        raise ValidationError("Say why you are exporting this file: with “Other”, the details "
                              "are required.")


def output_download_url(*, membership, output: JobOutput, reason: str, note: str = "",
                        request=None) -> str:
    if output.lab_id != membership.lab_id:
        raise PermissionDenied("That file belongs to another lab.")
    if not output.job.can_download(membership):
        raise PermissionDenied("Results can be downloaded once a lab manager has signed the "
                               "report out.")
    # An archived job has output rows again only once restored to the results bucket.
    if output.job.status not in (JobStatus.SUCCEEDED, JobStatus.ARCHIVED):
        raise ValidationError("Only the outputs of a succeeded job can be downloaded.")
    check_reason(reason, note)
    return audited_download_url(
        membership=membership, action=audit_actions.OUTPUT_DOWNLOADED, lab=output.lab,
        resource_type="job_output", resource_id=output.pk, bucket=bucket_name(output.bucket_role),
        key=output.key, file_name=output.path.rsplit("/", 1)[-1], reason=reason, note=note,
        request=request,
        details={"job": str(output.job_id), "sample": str(output.job.sample_id),
                 "path": output.path, "sha256": output.sha256, "size": output.size})


def audited_download_url(*, membership, action: str, lab, resource_type: str, resource_id, bucket: str,
                 key: str, file_name: str, reason: str, note: str, details: dict,
                 request) -> str:
    """The one place a presigned GET is issued: its audit event (PHI accessed and exported, the
    reason, the size for usage) is written in the same transaction, and the URL is not logged.
    Storage is asked first whether the object is there, so a download the browser could not
    fetch (storage down, the object gone) is neither audited nor counted."""
    expires_in = settings.STORAGE_PRESIGNED_EXPIRY_SECONDS
    stored = s3.object_info(bucket, key)
    if stored is None:
        raise ValidationError(f"{file_name} is no longer in storage; nothing was exported. Ask "
                              "an administrator to restore it.")
    with transaction.atomic():
        audit_record(actor=Actor.for_user(membership.user), action=action, lab=lab,
                     resource_type=resource_type, resource_id=resource_id, phi_accessed=True,
                     data_exported=True, request=request,
                     details={**details, "reason": reason, "note": note.strip()[:500],
                              "expires_in": expires_in})
        metric_records.count("download_bytes", stored["size"], kind=resource_type)
        return s3.presign_download(bucket, key, file_name=file_name, expires_in=expires_in)
