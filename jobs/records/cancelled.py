"""A job cancelled while its outputs were being published keeps none of them: the objects (every
version), their rows and ledger entries, the variant table and QC go; its compute stays counted.
Deleting results is the records role's right, not the worker's (docs/operations.md, "Storage
credentials"), so the runner queues this as a records task (jobs.tasks.discard_cancelled_outputs)."""

from __future__ import annotations

import logging

from django.db import transaction

from jobs.models import Job, JobStatus
from storage import ledger, s3, versions
from storage.buckets import bucket_name
from storage.credentials import acting_as

log = logging.getLogger(__name__)


@acting_as("records")
def cancelled_outputs_discard(*, job_id) -> int:
    """Delete the cancelled job's outputs; the number deleted (0 for a job not cancelled)."""
    job = Job.objects.get(pk=job_id)
    if job.status != JobStatus.CANCELLED:
        return 0
    outputs = list(job.outputs.all())
    deleted = []
    for output in outputs:
        try:
            versions.delete_object_versions(bucket_name(output.bucket_role), output.key)
            deleted.append(output)
        except s3.StorageError as exc:   # the nightly reconciliation reports it as unrecorded
            log.error("cancelled job %s: %s could not be deleted: %s", job.pk, output.key, exc)
    with transaction.atomic():
        for output in outputs:
            ledger.record_delete(bucket=bucket_name(output.bucket_role), key=output.key)
        job.outputs.all().delete()
        job.variants.all().delete()
        Job.objects.filter(pk=job.pk).update(qc={})
    return len(deleted)
