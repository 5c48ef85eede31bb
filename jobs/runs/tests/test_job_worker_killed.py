"""Kill the worker with SIGKILL in the middle of a run, twice. The job still ends "succeeded",
no two runs overlap, and no output is missing or duplicated."""

import os
import signal
import subprocess
import time

import pytest

from jobs.models import Job, JobStatus, Report
from jobs.runs.reaper import job_reap
from jobs.runs.services import job_submit
from storage import s3
from storage.buckets import bucket_name
from tenants import audit_actions
from tenants.models import AuditEvent

from .workers import LEASE_SECONDS, alive, start_worker, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def mid_run(job_id, attempt: int):
    """The job while `attempt` runs and has finished more steps than the attempt before it."""
    job = Job.objects.get(pk=job_id)
    done = [s for s in job.progress if s["status"] in ("completed", "cached")]
    if job.status == JobStatus.RUNNING and job.attempts == attempt and len(done) >= attempt:
        return job
    return None


def test_it_survives_two_sigkilled_workers(clinician, ready_sample, pipeline_env, tmp_path,
                                          monkeypatch):
    from django_q.conf import Conf

    sample = ready_sample(clinician)
    monkeypatch.setattr(Conf, "SYNC", False)  # from here on, only real workers run tasks
    job = job_submit(membership=clinician, sample=sample)
    assert Job.objects.get(pk=job.pk).status == JobStatus.QUEUED
    log = tmp_path / "worker.log"
    workers = []
    try:
        finished = kill_twice_then_finish(job, log, workers)
    finally:
        for worker in workers:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()
    check_outcome(finished, job, clinician, log)


def kill_twice_then_finish(job, log, workers):
    for attempt in (1, 2):
        worker = start_worker(log)
        workers.append(worker)
        running = wait_for(lambda attempt=attempt: mid_run(job.pk, attempt), 90,
                           f"attempt {attempt} mid-run", job.pk)
        assert running.attempts == attempt
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
        # The runner dies with its worker (parent-death signal), so nothing runs on without a lease.
        wait_for(lambda pgid=running.runner_pgid: not alive(pgid), 10,
                 "the orphaned runner to stop")
        assert job_reap()["requeued"] == 0, "a live lease is never taken over"
        time.sleep(LEASE_SECONDS + 1)
        assert job_reap() == {"requeued": 1, "failed": 0}

    worker = start_worker(log)
    workers.append(worker)
    finished = wait_for(lambda: Job.objects.filter(pk=job.pk, status__in=[
        JobStatus.SUCCEEDED, JobStatus.FAILED]).first(), 120, "the third attempt to finish")
    if finished.status == JobStatus.SUCCEEDED:  # success queues the draft report; let it land
        wait_for(lambda: Report.objects.filter(job=job, version=1).exclude(draft_key="").first(),
                 60, "the draft report", job.pk)
    worker.send_signal(signal.SIGTERM)  # the cluster stops its own workers
    try:
        worker.wait(30)
    except subprocess.TimeoutExpired:
        pass  # killed in the caller's cleanup
    return finished


def check_outcome(finished, job, clinician, log):
    assert finished.status == JobStatus.SUCCEEDED, (finished.failed_step, finished.error,
                                                    log.read_text()[-3000:])
    assert finished.attempts == 3
    starts = list(AuditEvent.objects.filter(action=audit_actions.JOB_STARTED).order_by("id"))
    requeues = list(AuditEvent.objects.filter(action=audit_actions.JOB_REQUEUED).order_by("id"))
    assert [e.details["attempt"] for e in starts] == [1, 2, 3]
    assert len(requeues) == 2
    for requeue, next_start in zip(requeues, starts[1:]):
        assert requeue.id < next_start.id, "each new attempt began only after the reaper"
    assert any(s["status"] == "cached" for s in finished.progress), "later attempts resumed"

    outputs = list(finished.outputs.all())
    assert len({o.path for o in outputs}) == len(outputs) >= 10
    prefix = f"{clinician.lab.pk}/{job.pk}/"
    for role in ("intermediate", "results"):
        listed = s3.client().list_object_versions(Bucket=bucket_name(role), Prefix=prefix)
        keys = [v["Key"] for v in listed.get("Versions", [])]
        expected = sorted(o.key for o in outputs if o.bucket_role == role)
        if role == "results":
            expected = sorted(expected + [finished.reports.get(version=1).draft_key])
        assert sorted(set(keys)) == expected, "no output missing, none extra"
        if role == "results":  # versioned: a duplicate upload would leave a second version
            assert len(keys) == len(expected), "no output uploaded twice"
