"""Writes for pipeline jobs: submit a ready sample, cancel, retry, and reap dead runs.
(Running one is jobs/pipeline.py.)

A job moves between states only through its model methods, called here under a row lock.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from jobs import notifications
from jobs.models import InvalidTransition, Job, JobStatus, Sample, SampleStatus
from portal.db import for_update
from tenants import actions
from tenants.access import require_manager
from tenants.audit import SYSTEM, Actor, audit_record

QUEUED_TOO_LONG = timedelta(minutes=10)


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
        audit_record(actor=Actor.for_user(membership.user), action=actions.SAMPLE_SUBMITTED,
                     lab=sample.lab, resource_type="sample", resource_id=sample.pk,
                     request=request,
                     details={"sample": str(sample.pk), "job": str(job.pk),
                              "digests": {f.label: f.sha256 for f in sample.files.all()}})
        transaction.on_commit(lambda: enqueue_run(job.pk))
    return job


def enqueue_run(job_id) -> None:
    from django_q.tasks import async_task

    async_task("jobs.tasks.run_job", str(job_id), task_name=f"run-{job_id}")


def job_cancel(*, membership, job: Job, request=None) -> Job:
    """A manager, or the clinician who submitted it, stops a queued or running job. The worker's
    heartbeat sees it within a quarter of the lease and stops the whole runner process group."""
    if not (membership.is_manager or job.submitted_by_id == membership.user_id):
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
        audit_record(actor=Actor.for_user(membership.user), action=actions.JOB_CANCELLED,
                     lab=job.lab, resource_type="job", resource_id=job.pk, request=request,
                     details={"job": str(job.pk), "sample": str(job.sample_id)})
    return job


def job_retry(*, membership, job: Job, request=None) -> Job:
    """A manager runs a failed job again; the pipeline resumes from the steps that finished."""
    require_manager(membership)
    with transaction.atomic():
        job = for_update(Job.objects).get(pk=job.pk, lab=membership.lab)
        try:
            job.retry()
        except InvalidTransition:
            raise ValidationError(f"This job is {job.status}; only a failed job can be "
                                  "retried.") from None
        job.save()
        audit_record(actor=Actor.for_user(membership.user), action=actions.JOB_RETRIED,
                     lab=job.lab, resource_type="job", resource_id=job.pk, request=request,
                     details={"job": str(job.pk), "attempts_so_far": job.attempts})
        transaction.on_commit(lambda: enqueue_run(job.pk))
    return job


def job_reap(*, now=None) -> dict:
    """Queue again the runs whose worker died (lease ran out) and queued jobs whose task the
    broker lost; fail those that have used up their attempts."""
    now = now or timezone.now()
    requeued, given_up = 0, 0
    stale = Job.objects.filter(status=JobStatus.RUNNING, lease_expires_at__lt=now)
    lost = Job.objects.filter(status=JobStatus.QUEUED, submitted_at__lt=now - QUEUED_TOO_LONG)
    for job_id in list(stale.values_list("pk", flat=True)) + list(lost.values_list("pk", flat=True)):
        with transaction.atomic():
            job = for_update(Job.objects).select_related("lab").get(pk=job_id)
            if job.status == JobStatus.RUNNING and job.lease_is_live(now):
                continue
            if job.attempts >= job.max_attempts:
                job.status, job.finished_at = JobStatus.FAILED, now
                job.failed_step = job.failed_step or "worker"
                job.error = (f"The worker running this job stopped {job.attempts} times; "
                             "retry it when the workers are healthy.")
                job.lease_owner, job.lease_expires_at = "", None
                job.save()
                audit_record(actor=SYSTEM, action=actions.JOB_FAILED, lab=job.lab,
                             resource_type="job", resource_id=job.pk,
                             details={"job": str(job.pk), "error": job.error})
                transaction.on_commit(
                    lambda job_id=job.pk: notifications.enqueue("job_failed", job_id))
                given_up += 1
                continue
            audit_record(actor=SYSTEM, action=actions.JOB_REQUEUED, lab=job.lab,
                         resource_type="job", resource_id=job.pk,
                         details={"job": str(job.pk), "was": job.status,
                                  "attempts": job.attempts})
            transaction.on_commit(lambda job_id=job.pk: enqueue_run(job_id))
            requeued += 1
    return {"requeued": requeued, "failed": given_up}
