"""Downloads of pipeline outputs: a presigned GET valid for minutes, never proxied bytes.

Each URL is issued only after the access check, for an object the database says belongs to the
requesting lab's job, and with one audit event (patient data accessed and exported, with the
reason the user gave) written before the URL leaves the portal. The URL itself is not logged.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from jobs.models import JobOutput, JobStatus
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


def can_download(membership, output: JobOutput) -> bool:
    # Clinicians receive results once a manager has signed the report out (issue 5's review
    # flow); until reports exist, only managers may export outputs.
    return membership.is_manager


def output_download_url(*, membership, output: JobOutput, reason: str, note: str = "",
                        request=None) -> str:
    if output.lab_id != membership.lab_id:
        raise PermissionDenied("That file belongs to another lab.")
    if not can_download(membership, output):
        raise PermissionDenied("Results can be downloaded once a lab manager has signed the "
                               "report out.")
    if output.job.status != JobStatus.SUCCEEDED:
        raise ValidationError("Only the outputs of a succeeded job can be downloaded.")
    if reason not in dict(REASONS):
        raise ValidationError("Choose why you are exporting this file.")
    if reason == "other" and not note.strip():
        raise ValidationError("Say why you are exporting this file.")
    file_name = output.path.rsplit("/", 1)[-1]
    with transaction.atomic():
        audit_record(actor=Actor.for_user(membership.user), action=actions.OUTPUT_DOWNLOADED,
                     lab=output.lab, resource_type="job_output", resource_id=output.pk,
                     phi_accessed=True, data_exported=True, request=request,
                     details={"job": str(output.job_id), "sample": str(output.job.sample_id),
                              "path": output.path, "sha256": output.sha256, "reason": reason,
                              "note": note.strip()[:500],
                              "expires_in": settings.STORAGE_PRESIGNED_EXPIRY_SECONDS})
        return s3.presign_download(bucket_name(output.bucket_role), output.key,
                                   file_name=file_name,
                                   expires_in=settings.STORAGE_PRESIGNED_EXPIRY_SECONDS)
