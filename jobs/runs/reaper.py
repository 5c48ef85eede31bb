"""The reaper: every minute, queue again the runs whose worker died (the lease ran out) and the
queued jobs whose task the broker lost; a dead run with no attempt left fails. Jobs move only
through their own transitions, under a row lock."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from common.db import for_update
from common.queue import enqueue
from jobs.models import Job, JobStatus
from jobs.runs.run_metrics import run_ended
from jobs.runs.services import enqueue_run
from tenants import audit_actions
from tenants.audit import SYSTEM, audit_record


def job_reap(*, now=None) -> dict:
    """Returns how many jobs were queued again and how many failed."""
    now = now or timezone.now()
    requeued, given_up = 0, 0
    wait = now - timedelta(seconds=settings.REQUEUE_AFTER_SECONDS)
    stale = Job.objects.filter(status=JobStatus.RUNNING, lease_expires_at__lt=now)
    lost = Job.objects.filter(status=JobStatus.QUEUED, queued_at__lt=wait)
    for job_id in list(stale.values_list("pk", flat=True)) + list(lost.values_list("pk", flat=True)):
        with transaction.atomic():
            job = for_update(Job.objects).select_related("lab").get(pk=job_id)
            if job.can_give_up(now):
                job.give_up(now=now)
                job.save()
                run_ended(job)
                audit_record(actor=SYSTEM, action=audit_actions.JOB_FAILED, lab=job.lab,
                             resource_type="job", resource_id=job.pk,
                             details={"job": str(job.pk), "error": job.error})
                enqueue("jobs.tasks.send_notification", "job_failed", str(job.pk))
                given_up += 1
                continue
            if not job.needs_requeue(now):
                continue  # taken by a worker meanwhile, or queued again within the wait
            job.requeue(now)
            job.save(update_fields=["queued_at"])
            audit_record(actor=SYSTEM, action=audit_actions.JOB_REQUEUED, lab=job.lab,
                         resource_type="job", resource_id=job.pk,
                         details={"job": str(job.pk), "was": job.status,
                                  "attempts": job.attempts})
            enqueue_run(job.pk)
            requeued += 1
    return {"requeued": requeued, "failed": given_up}
