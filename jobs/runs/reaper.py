"""The reaper: every minute, queue again the runs whose worker died (the lease ran out) and the
queued jobs whose task the broker lost; a dead run with no attempt left fails. Jobs move only
through their own transitions, under a row lock."""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from common.db import for_update
from common.queue import enqueue
from jobs.models import Job, JobStatus
from jobs.runs.services import enqueue_run
from tenants import audit_actions
from tenants.audit import SYSTEM, audit_record

QUEUED_TOO_LONG = timedelta(minutes=10)


def job_reap(*, now=None) -> dict:
    now = now or timezone.now()
    requeued, given_up = 0, 0
    stale = Job.objects.filter(status=JobStatus.RUNNING, lease_expires_at__lt=now)
    lost = Job.objects.filter(status=JobStatus.QUEUED, submitted_at__lt=now - QUEUED_TOO_LONG)
    for job_id in list(stale.values_list("pk", flat=True)) + list(lost.values_list("pk", flat=True)):
        with transaction.atomic():
            job = for_update(Job.objects).select_related("lab").get(pk=job_id)
            if job.status == JobStatus.RUNNING and job.lease_is_live(now):
                continue
            if job.status not in (JobStatus.QUEUED, JobStatus.RUNNING):
                continue  # it ended meanwhile
            if job.can_give_up(now):
                job.give_up(now=now)
                job.save()
                audit_record(actor=SYSTEM, action=audit_actions.JOB_FAILED, lab=job.lab,
                             resource_type="job", resource_id=job.pk,
                             details={"job": str(job.pk), "error": job.error})
                enqueue("jobs.tasks.send_notification", "job_failed", str(job.pk))
                given_up += 1
                continue
            audit_record(actor=SYSTEM, action=audit_actions.JOB_REQUEUED, lab=job.lab,
                         resource_type="job", resource_id=job.pk,
                         details={"job": str(job.pk), "was": job.status,
                                  "attempts": job.attempts})
            enqueue_run(job.pk)
            requeued += 1
    return {"requeued": requeued, "failed": given_up}
