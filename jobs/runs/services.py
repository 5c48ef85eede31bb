"""Writes for pipeline jobs: submit a ready sample, cancel, retry. (Running one is
jobs/runs/runner.py; re-queueing dead runs is jobs/runs/reaper.py.)

A job moves between states only through its model methods, called here under a row lock.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from common.db import for_update
from common.queue import Sending, enqueue
from jobs.models import InvalidTransition, Job, Sample, SampleStatus
from tenants import audit_actions
from tenants.audit import Actor, audit_record

RUN_TASK = "jobs.tasks.run_job"


def job_submit(*, membership, sample: Sample, request=None) -> Job:
    """Queue the pipeline for a verified sample. The first job carries the id reserved when the
    upload started (the raw-data keys use it); a re-analysis would get its own."""
    with transaction.atomic():
        sample = for_update(Sample.objects).get(pk=sample.pk, lab=membership.lab)
        if sample.status != SampleStatus.READY:
            raise ValidationError(f"Only a ready sample can be submitted; {sample.name} is "
                                  f"{sample.get_status_display().lower()}.")
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
