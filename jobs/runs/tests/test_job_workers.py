"""Real worker processes: cancelling a running job stops its whole process group, and on the
Redis broker two workers run six jobs exactly once each, even when every task is delivered
twice."""

import os
import signal
import subprocess
import sys
import time

import pytest

from jobs.models import Job, JobStatus
from jobs.runs.services import job_submit
from tenants import audit_actions
from tenants.models import AuditEvent

from tests.helpers import redis_available

from .workers import ROOT, alive, start_worker, steps_started, wait_for, worker_env

pytestmark = pytest.mark.django_db(transaction=True)


def job_processes(job, under: str = "") -> list[int]:
    """Live processes working in this job's directory (the runner and its steps), or only in
    `under` it ("work": the steps, in their task directories)."""
    from django.conf import settings

    from jobs.runs.processes import processes_in

    return processes_in(settings.PIPELINE_WORK_DIR / str(job.pk) / under)


def stop(workers):
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()


def test_cancelling_a_running_job_stops_its_process_group(client_for, clinician, ready_sample,
                                                          pipeline_env, tmp_path, monkeypatch,
                                                          settings):
    from django_q.conf import Conf

    sample = ready_sample(clinician)
    monkeypatch.setattr(Conf, "SYNC", False)
    job = job_submit(membership=clinician, sample=sample)
    # every step waits 2 s inside its task (bin/step_hook, under either runner)
    workers = [start_worker(tmp_path / "worker.log", WES_STEP_DELAY="2")]
    try:
        running = wait_for(lambda: Job.objects.filter(pk=job.pk, status=JobStatus.RUNNING)
                           .exclude(runner_pgid=None).first(), 60, "the job to run", job.pk)
        assert alive(running.runner_pgid)
        wait_for(lambda: steps_started(settings.PIPELINE_WORK_DIR / str(job.pk)), 60,
                 "a step to be running")
        cancelled_at = time.monotonic()
        client_for(clinician).post(f"/labs/lab-a/jobs/{job.pk}/cancel/")
        # The run loop sees the cancel within a second or two and stops the runner, which stops
        # the step it was running (steps run in sessions of their own).
        wait_for(lambda: not alive(running.runner_pgid), 10, "the runner to stop")
        wait_for(lambda: not job_processes(job), 10, "every step process to stop")
        assert time.monotonic() - cancelled_at < 10
    finally:
        stop(workers)
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED and not job.outputs.exists()
    assert "running" not in {step["status"] for step in job.progress}
    assert "stopped" in {step["status"] for step in job.progress}
    assert AuditEvent.objects.filter(action=audit_actions.JOB_CANCELLED,
                                     actor_email="clinician@lab-a.test").count() == 1
    assert not AuditEvent.objects.filter(action__in=[audit_actions.JOB_SUCCEEDED,
                                                     audit_actions.JOB_FAILED]).exists()



@pytest.mark.skipif(not redis_available() and not os.environ.get("CI"),
                    reason="no Redis on 127.0.0.1:6379")
def test_two_workers_on_redis_run_six_jobs_exactly_once(clinician, ready_sample, pipeline_env,
                                                         tmp_path, monkeypatch):
    from common.queue import Sending
    from jobs.runs import services as runs

    monkeypatch.setattr(runs, "enqueue_run",   # enqueued below, on Redis
                        lambda job_id: Sending("jobs.tasks.run_job", sent=True))
    jobs = [job_submit(membership=clinician,
                       sample=ready_sample(clinician, name=f"R{n}"))
            for n in range(6)]   # each queued twice: twelve tasks for two workers
    redis = {"REDIS_URL": "redis://127.0.0.1:6379/9", "WES_QUEUE_NAME": f"wes-scale-{os.getpid()}"}
    enqueue = ("import django, sys; django.setup(); from jobs.runs.services import enqueue_run; "
               "[enqueue_run(job_id) for job_id in sys.argv[1:] for _twice in (1, 2)]")
    subprocess.run([sys.executable, "-c", enqueue, *[str(j.pk) for j in jobs]], cwd=ROOT,
                   env={**worker_env(), **redis}, check=True, capture_output=True)

    workers = [start_worker(tmp_path / f"worker-{n}.log", **redis) for n in (1, 2)]
    try:
        wait_for(lambda: Job.objects.filter(status=JobStatus.SUCCEEDED).count() == 6, 300,
                 "six jobs to succeed")
    finally:
        stop(workers)

    starts = AuditEvent.objects.filter(action=audit_actions.JOB_STARTED)
    per_job = {}
    for event in starts:
        per_job.setdefault(event.details["job"], []).append(event)
    assert sorted(per_job) == sorted(str(j.pk) for j in jobs)
    assert all(len(events) == 1 for events in per_job.values()), "a job ran twice"
    assert all(j.attempts == 1 for j in Job.objects.all())
    worker_pids = {e.details["worker"].split(":")[1] for e in starts}
    assert len(worker_pids) == 2, "both workers took jobs"
