"""The reaper's waits: a job no worker took is queued again after WES_REQUEUE_AFTER_SECONDS and
then once per wait (not every minute), a dead run is queued again at once, a dead run with no
attempt left fails through the job's own transition."""

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.models import Job, JobStatus, Sample
from jobs.runs.reaper import job_reap
from tenants import audit_actions
from tenants.models import AuditEvent

pytestmark = pytest.mark.django_db

T0 = timezone.now()


def at(minutes: float):
    return T0 + timedelta(minutes=minutes)


@pytest.fixture
def job(clinician, settings):
    settings.REQUEUE_AFTER_SECONDS = 300
    sample = Sample.objects.create(lab=clinician.lab, name="R1", external_id="P-1", sex="male",
                                   clinical_indication="x", consent_confirmed_at=T0,
                                   created_by=clinician.user, status="submitted")
    return Job.objects.create(lab=clinician.lab, sample=sample, submitted_by=clinician.user,
                              submitted_at=T0, queued_at=T0)


def requeued(job) -> int:
    return AuditEvent.objects.filter(action=audit_actions.JOB_REQUEUED,
                                     resource_id=str(job.pk)).count()


def test_a_job_no_worker_took_is_queued_again_once_per_wait(job):
    assert job_reap(now=at(1)) == {"requeued": 0, "failed": 0}
    assert job_reap(now=at(5.5)) == {"requeued": 1, "failed": 0}
    for minute in (6.5, 7.5, 9.5):       # the reaper runs every minute: not again within the wait
        assert job_reap(now=at(minute)) == {"requeued": 0, "failed": 0}
    assert job_reap(now=at(11)) == {"requeued": 1, "failed": 0}
    assert requeued(job) == 2
    assert Job.objects.get(pk=job.pk).queued_at == at(11)


def test_a_dead_run_is_queued_again_at_once_then_once_per_wait(job):
    Job.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING, attempts=1,
                                         lease_owner="dead-worker", lease_expires_at=at(2))
    assert job_reap(now=at(1))["requeued"] == 0, "a live lease is never taken over"
    assert job_reap(now=at(3))["requeued"] == 1
    assert job_reap(now=at(4))["requeued"] == 0
    assert job_reap(now=at(8.5))["requeued"] == 1
    assert Job.objects.get(pk=job.pk).status == JobStatus.RUNNING   # the next worker takes it


def test_a_dead_run_without_attempts_left_fails_with_the_reason(job):
    Job.objects.filter(pk=job.pk).update(
        status=JobStatus.RUNNING, attempts=3, max_attempts=3, lease_owner="dead-worker",
        lease_expires_at=at(2), progress=[{"process": "FASTP_QC", "status": "completed"},
                                          {"process": "BWA_ALIGN", "status": "running"},
                                          {"process": "SORT_FIXMATE", "status": "pending"}])
    assert job_reap(now=at(3)) == {"requeued": 0, "failed": 1}
    job.refresh_from_db()
    assert (job.status, job.failed_step, job.lease_owner) == (JobStatus.FAILED, "worker", "")
    assert [step["status"] for step in job.progress] == ["completed", "stopped", "pending"]
    assert "stopped 3 times" in job.error
    assert job_reap(now=at(20)) == {"requeued": 0, "failed": 0}
