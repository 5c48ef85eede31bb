"""Writes for pipeline jobs: submit a ready sample, analyse a submitted one again, cancel, retry.
(Running one is
jobs/runs/runner.py; re-queueing dead runs is jobs/runs/reaper.py.)

A job moves between states only through its model methods, called here under a row lock.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from common.db import for_update
from common.queue import Sending, enqueue
from jobs.models import InvalidTransition, Job, JobStatus, Sample, SampleStatus
from storage import s3
from storage.buckets import bucket, bucket_name
from tenants import audit_actions
from tenants.audit import Actor, audit_record

RUN_TASK = "jobs.tasks.run_job"


def job_submit(*, membership, sample: Sample, request=None) -> Job:
    """Queue the pipeline for a verified sample. The first job carries the id reserved when the
    upload started (the raw-data keys use it); a re-analysis (`sample_reanalyse`) gets its own."""
    with transaction.atomic():
        sample = for_update(Sample.objects).get(pk=sample.pk, lab=membership.lab)
        if sample.status != SampleStatus.READY:
            raise ValidationError(f"Only a ready sample can be submitted; {sample.name} is "
                                  f"{sample.get_status_display().lower()}.")
        kept_until = sample.reads_kept_until
        if kept_until and kept_until <= timezone.now():
            missing = _raw_files_missing(list(sample.files.all()))
            if missing:
                raise ValidationError(
                    f"The reads of {sample.name} ({' and '.join(missing)}) are no longer in "
                    f"storage: uploads are kept {bucket('raw').expire_days} days and this sample "
                    f"was not submitted by {kept_until:%Y-%m-%d}. Upload the reads again as a "
                    "new sample.")
        job_id = sample.job_id if not sample.jobs.exists() else uuid.uuid4()
        job = Job.objects.create(id=job_id, lab=sample.lab, sample=sample,
                                 submitted_by=membership.user,
                                 max_attempts=settings.JOB_MAX_ATTEMPTS)
        sample.status = SampleStatus.SUBMITTED
        sample.save(update_fields=["status", "updated_at"])
        audit_record(actor=Actor.for_user(membership.user), action=audit_actions.SAMPLE_SUBMITTED,
                     lab=sample.lab, resource_type="sample", resource_id=sample.pk,
                     request=request,
                     details={"sample": str(sample.pk), "job": str(job.pk),
                              "digests": {f.label: f.sha256 for f in sample.files.all()}})
        sending = enqueue_run(job.pk)
    job.queue_error = sending.error   # the run is queued again by the reaper if this failed
    return job


def sample_reanalyse(*, membership, sample: Sample, reason: str, request=None) -> Job:
    """A manager starts a new analysis (a new job) of a submitted sample, saying why. The earlier
    jobs, their outputs and reports stay as they are; the new job becomes the sample's current
    one. Refused while an analysis of the sample is queued or running, and once the raw FASTQ
    files are no longer in storage (the raw-data bucket expires them)."""
    if not sample.may_reanalyse(membership):
        raise PermissionDenied("Only a lab manager can start a new analysis of a sample.")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("Say why the sample is analysed again (it is kept in the audit "
                              "trail and on the new analysis).")
    with transaction.atomic():
        sample = for_update(Sample.objects).get(pk=sample.pk, lab=membership.lab)
        if sample.status != SampleStatus.SUBMITTED:
            raise ValidationError(f"Only a submitted sample can be analysed again; {sample.name} "
                                  f"is {sample.get_status_display().lower()}.")
        if sample.jobs.filter(status__in=[JobStatus.QUEUED, JobStatus.RUNNING]).exists():
            raise ValidationError(f"An analysis of {sample.name} is still queued or running; "
                                  "wait for it to end, or cancel it, first.")
        files = list(sample.files.all())
        missing = _raw_files_missing(files)
        if missing:
            raise ValidationError(
                f"The raw FASTQ file{'s' if len(missing) > 1 else ''} "
                f"{' and '.join(missing)} of {sample.name} {'are' if len(missing) > 1 else 'is'} "
                f"no longer in storage (uploads are kept {bucket('raw').expire_days} days, then "
                "removed; archived analyses keep their results, not the reads), so it cannot be "
                "analysed again. Upload the reads as a new sample.")
        previous = sample.latest_job
        job = Job.objects.create(lab=sample.lab, sample=sample, submitted_by=membership.user,
                                 max_attempts=settings.JOB_MAX_ATTEMPTS,
                                 reanalysis_reason=reason)
        audit_record(actor=Actor.for_user(membership.user), action=audit_actions.SAMPLE_REANALYSED,
                     lab=sample.lab, resource_type="sample", resource_id=sample.pk,
                     request=request,
                     details={"sample": str(sample.pk), "job": str(job.pk),
                              "previous_job": str(previous.pk) if previous else None,
                              "reason": reason,
                              "digests": {f.label: f.sha256 for f in files}})
        sending = enqueue_run(job.pk)
    job.queue_error = sending.error
    return job


def _raw_files_missing(files) -> list[str]:
    """Labels of the sample's FASTQ files not (or no longer whole) in the raw-data bucket."""
    raw = bucket_name("raw")
    return [f.label for f in files if s3.object_size(raw, f.key) != f.size]


def enqueue_run(job_id) -> Sending:
    """Queue a run of the job once the transaction commits (the lease, not the queue, keeps two
    runs of one job from overlapping)."""
    return enqueue(RUN_TASK, str(job_id), task_name=f"run-{job_id}")


def job_cancel(*, membership, job: Job, request=None) -> Job:
    """Who may cancel is `Job.may_cancel`: a manager, or the clinician who submitted it. The
    worker's heartbeat sees it within a quarter of the lease and stops the runner."""
    if not job.may_cancel(membership):
        raise PermissionDenied("Only a lab manager or the person who submitted it can cancel "
                               "this job.")
    with transaction.atomic():
        job = for_update(Job.objects).get(pk=job.pk, lab=membership.lab)
        try:
            job.cancel()
        except InvalidTransition:
            raise ValidationError(f"This job is {job.status}; only a queued or running job can "
                                  "be cancelled.") from None
        job.save()
        audit_record(actor=Actor.for_user(membership.user), action=audit_actions.JOB_CANCELLED,
                     lab=job.lab, resource_type="job", resource_id=job.pk, request=request,
                     details={"job": str(job.pk), "sample": str(job.sample_id)})
    return job


def job_retry(*, membership, job: Job, request=None) -> Job:
    """A manager runs a failed job again; the pipeline resumes from the steps that finished."""
    if not job.may_retry(membership):
        raise PermissionDenied("Only a lab manager can retry a job.")
    with transaction.atomic():
        job = for_update(Job.objects).get(pk=job.pk, lab=membership.lab)
        try:
            job.retry()
        except InvalidTransition:
            raise ValidationError(f"This job is {job.status}; only a failed job can be "
                                  "retried.") from None
        job.save()
        audit_record(actor=Actor.for_user(membership.user), action=audit_actions.JOB_RETRIED,
                     lab=job.lab, resource_type="job", resource_id=job.pk, request=request,
                     details={"job": str(job.pk), "attempts_so_far": job.attempts})
        enqueue_run(job.pk)
    return job
