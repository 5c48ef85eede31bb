"""Writes for pipeline jobs: submit a ready sample, and (later) run, cancel, retry, reap.

A job moves between states only through its model methods, called here under a row lock.
"""

from __future__ import annotations

import uuid

from django.core.exceptions import ValidationError
from django.db import transaction

from jobs.models import Job, Sample, SampleStatus
from tenants import actions
from tenants.audit import Actor, audit_record


def job_submit(*, membership, sample: Sample, request=None) -> Job:
    """Queue the pipeline for a verified sample. The first job carries the id reserved when the
    upload started (the raw-data keys use it); a re-analysis would get its own."""
    with transaction.atomic():
        sample = Sample.objects.select_for_update().get(pk=sample.pk, lab=membership.lab)
        if sample.status != SampleStatus.READY:
            raise ValidationError(f"Only a ready sample can be submitted; {sample.name} is "
                                  f"{sample.get_status_display().lower()}.")
        job_id = sample.job_id if not sample.jobs.exists() else uuid.uuid4()
        job = Job.objects.create(id=job_id, lab=sample.lab, sample=sample,
                                 submitted_by=membership.user)
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
