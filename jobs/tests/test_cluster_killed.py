"""The whole worker cluster is killed (SIGKILL of `qcluster` and its workers), twice: mid-run,
and the moment a job succeeds. With the database broker, a dead cluster's fetched tasks would
come back only after django-q2's `retry` (hours); nothing here waits for that. The reaper
(`jobs.tasks.reap_jobs`, run here by the test as the schedule would) queues the dead run again at
once, the job nobody took after WES_REQUEUE_AFTER_SECONDS, and the draft report nobody wrote
after WES_DRAFT_RETRY_AFTER_SECONDS. Every job ends succeeded with exactly one draft report."""

import os
import signal
import time

import pytest

from jobs import tasks
from jobs.models import Job, JobStatus, Report
from jobs.runs.services import job_submit
from jobs.runs.tests.workers import alive, start_worker, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def kill(cluster) -> None:
    os.killpg(cluster.pid, signal.SIGKILL)
    cluster.wait()


def test_a_killed_cluster_loses_no_job_and_no_report(clinician, ready_sample, pipeline_env,
                                                     tmp_path, monkeypatch, settings):
    from django_q.conf import Conf

    first, second = ready_sample(clinician), ready_sample(clinician, name="TEST2")
    monkeypatch.setattr(Conf, "SYNC", False)   # from here on, only real clusters run tasks
    settings.REQUEUE_AFTER_SECONDS = settings.DRAFT_RETRY_AFTER_SECONDS = 10
    jobs = [job_submit(membership=clinician, sample=sample) for sample in (first, second)]
    log = tmp_path / "cluster.log"
    clusters = [start_worker(log)]
    try:
        # Killed mid-run: the first job's runner dies with it; the second job's task is held.
        running = wait_for(lambda: Job.objects.filter(
            pk=jobs[0].pk, status=JobStatus.RUNNING, progress__contains=[
                {"status": "completed"}]).first(), 120, "the first run mid-way", jobs[0].pk)
        kill(clusters[0])
        wait_for(lambda: not alive(running.runner_pgid), 10, "the runner to stop")

        clusters.append(start_worker(log))
        killed_at_success = False
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            done = Job.objects.filter(pk__in=[j.pk for j in jobs], status=JobStatus.SUCCEEDED)
            drafted = Report.objects.filter(job__in=[j.pk for j in jobs]).count()
            if not killed_at_success and done.exists():
                # The moment a job succeeds, its draft task is queued: kill the cluster again.
                kill(clusters[-1])
                killed_at_success = True
                clusters.append(start_worker(log))
            if done.count() == 2 and drafted == 2:
                break
            tasks.reap_jobs()
            time.sleep(1)
    finally:
        for cluster in clusters:
            if cluster.poll() is None:
                kill(cluster)

    for job in jobs:
        job.refresh_from_db()
        assert job.status == JobStatus.SUCCEEDED, (job.failed_step, job.error,
                                                   log.read_text()[-3000:])
        assert list(job.reports.values_list("version", "status")) == [(1, "pending_review")]
    # Each kill costs at most the attempt of the run it interrupted, never more.
    assert jobs[0].attempts >= 2 and jobs[0].attempts + jobs[1].attempts <= 4
    assert killed_at_success
