"""A job submitted through the portal runs for real: the real tools, SeaweedFS, the test
database, on run-local or (WES_PIPELINE_RUNNER=nextflow) Nextflow. It ends "succeeded" only with
every output verified in its bucket. Failures are injected through bin/step_hook, which both
runners run first in every task."""

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from jobs.models import Job, JobStatus
from jobs.runs.runner import pipeline_steps
from storage import s3
from storage.buckets import bucket_name
from tenants import audit_actions
from tenants.api_tokens import token_create
from tenants.models import AuditEvent

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[3]


def test_a_submitted_sample_runs_and_publishes_verified_outputs(client_for, ready_sample,
                                                               clinician, pipeline_env, settings):
    sample = ready_sample(clinician)
    client_for(clinician).post(f"/labs/lab-a/samples/{sample.pk}/submit/")

    job = Job.objects.get()
    assert job.status == JobStatus.SUCCEEDED, (job.failed_step, job.error)
    assert (job.pk, job.runner, job.attempts) == (sample.job_id, settings.PIPELINE_RUNNER, 1)
    assert [s["process"] for s in job.progress] == pipeline_steps()
    assert {s["status"] for s in job.progress} == {"completed"}
    # Every step's start and finish, from the trace, in UTC, inside the job's own run and in
    # pipeline order (run-local runs one step at a time).
    times = [(datetime.fromisoformat(s["started_at"]), datetime.fromisoformat(s["finished_at"]))
             for s in job.progress]
    assert all(start.utcoffset() == timedelta(0) for start, _ in times)
    assert job.started_at <= times[0][0] and times[-1][1] <= job.finished_at
    assert all(start <= finish for start, finish in times)
    if job.runner == "local":
        assert all(finish <= next_start for (_, finish), (next_start, _) in zip(times, times[1:]))
    _, token = token_create(membership=clinician, name="step times", days=1, scope="read")
    answer = client_for(clinician).get(f"/api/v1/labs/lab-a/jobs/{job.pk}",
                                       HTTP_AUTHORIZATION=f"Bearer {token}").json()
    assert [(datetime.fromisoformat(s["started_at"]), datetime.fromisoformat(s["finished_at"]))
            for s in answer["steps"]] == times

    outputs = {o.path: o for o in job.outputs.all()}
    assert {"bam/TEST1.bam", "bam/TEST1.bam.bai", "vcf/TEST1.vcf.gz", "vcf/TEST1.vcf.gz.tbi",
            "TEST1_Final_.txt", "metadata.json", "pipeline_info/trace.txt",
            "qc/TEST1.fastp.json"} <= set(outputs)
    roles = {path: o.bucket_role for path, o in outputs.items()}
    assert roles["bam/TEST1.bam"] == roles["qc/TEST1.fastp.json"] == "intermediate"
    assert roles["vcf/TEST1.vcf.gz"] == roles["TEST1_Final_.txt"] == roles["metadata.json"] == \
        "results"
    assert roles["pipeline_info/trace.txt"] == "logs"
    for o in outputs.values():
        info = s3.object_info(bucket_name(o.bucket_role), o.key)
        assert info["size"] == o.size and info["metadata"]["sha256"] == o.sha256
        if o.bucket_role != "logs":
            assert o.key.startswith(f"{clinician.lab.pk}/{job.pk}/")
        else:
            assert f"/{job.pk}/" in o.key

    metadata = json.loads(s3.open_object(bucket_name("results"),
                                         outputs["metadata.json"].key).read())
    assert metadata["runner"] == job.runner
    assert {metadata["inputs"]["r1"]["sha256"], metadata["inputs"]["r2"]["sha256"]} == \
        {f.sha256 for f in sample.files.all()}
    table = s3.open_object(bucket_name("results"), outputs["TEST1_Final_.txt"].key).read()
    assert table.startswith(b"variant_id\t") and table.count(b"\nWES-") > 10

    started, finished = (AuditEvent.objects.filter(action=a).get()
                         for a in (audit_actions.JOB_STARTED, audit_actions.JOB_SUCCEEDED))
    assert started.actor_id == finished.actor_id == "system"
    assert started.details["on_behalf_of"] == "clinician@lab-a.test"

    page = client_for(clinician).get(f"/labs/lab-a/jobs/{job.pk}/").content.decode()
    assert "Succeeded" in page and "FASTP_QC" in page and "TEST1_Final_.txt" in page
    assert f'<time datetime="{job.progress[0]["started_at"]}"' in page
    listing = client_for(clinician).get("/labs/lab-a/samples/").content.decode()
    assert f"/labs/lab-a/jobs/{job.pk}/" in listing and "status-succeeded" in listing
    sample.refresh_from_db()
    assert sample.turnaround is not None and sample.turnaround.total_seconds() > 0


def test_it_fails_with_a_clear_reason_when_the_reference_is_missing(
        client_for, ready_sample, clinician, pipeline_env, settings):
    settings.REFERENCE_BUILD = "no-such-build"
    sample = ready_sample(clinician)
    client_for(clinician).post(f"/labs/lab-a/samples/{sample.pk}/submit/")
    job = Job.objects.get()
    assert job.status == JobStatus.FAILED and job.failed_step == "staging inputs"
    assert "reference build 'no-such-build' is not in bucket" in job.error
    assert not job.outputs.exists()


def test_a_failing_step_is_shown_and_a_retry_resumes(client_for, ready_sample, clinician,
                                                     manager, pipeline_env, monkeypatch):
    sample = ready_sample(clinician)
    monkeypatch.setenv("WES_FAIL_STEP", "CALL_VARIANTS:3")
    client_for(clinician).post(f"/labs/lab-a/samples/{sample.pk}/submit/")
    job = Job.objects.get()
    assert job.status == JobStatus.FAILED
    assert (job.failed_step, job.exit_code) == ("CALL_VARIANTS", 3)
    assert job.error.splitlines()[0] == \
        "Process `CALL_VARIANTS (TEST1)` terminated with an error exit status (3)"
    assert "step_hook: simulated failure in CALL_VARIANTS" in job.error   # the step's stderr
    steps = {s["process"]: s["status"] for s in job.progress}
    assert steps["BWA_ALIGN"] == "completed" and steps["CALL_VARIANTS"] == "failed"
    assert not job.outputs.exists()
    page = client_for(manager).get(f"/labs/lab-a/jobs/{job.pk}/").content.decode()
    assert "CALL_VARIANTS</strong> failed with exit code 3" in page

    # A clinician may not retry; the manager may, and the run resumes after the cached steps.
    assert client_for(clinician).post(f"/labs/lab-a/jobs/{job.pk}/retry/").status_code == 403
    monkeypatch.delenv("WES_FAIL_STEP")
    client_for(manager).post(f"/labs/lab-a/jobs/{job.pk}/retry/")
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED and job.attempts == 2
    steps = {s["process"]: s["status"] for s in job.progress}
    assert steps["FASTP_QC"] == steps["BWA_ALIGN"] == "cached"
    assert steps["CALL_VARIANTS"] == "completed"
    assert AuditEvent.objects.filter(action=audit_actions.JOB_RETRIED,
                                     actor_email="manager@lab-a.test").count() == 1


def test_cancel_by_the_submitter_or_a_manager_only(client_for, clinician, manager, outsider,
                                                   ready_sample, pipeline_env, settings):
    from tests.helpers import make_user
    from tenants.services import membership_add

    sample = ready_sample(clinician)
    other = membership_add(lab=clinician.lab, user=make_user("other@lab-a.test"),
                           role="clinician")
    from jobs.runs.services import job_submit

    job = job_submit(membership=clinician, sample=sample)
    Job.objects.filter(pk=job.pk).update(status=JobStatus.QUEUED, attempts=0)
    url = f"/labs/lab-a/jobs/{job.pk}/cancel/"
    assert client_for(outsider).post(url).status_code == 404
    assert client_for(other).post(url).status_code == 403
    client_for(clinician).post(url)
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    assert AuditEvent.objects.filter(action=audit_actions.JOB_CANCELLED).count() == 1


def test_a_database_outage_during_a_run_costs_no_attempt(client_for, ready_sample, clinician,
                                                         pipeline_env):
    """For 8 s after the run starts, the database drops every connection of the test database as
    soon as it is made (pg_terminate_backend, as a restart or a failover does); the run rides it
    out, reconnecting, and succeeds on its first attempt."""
    import threading
    import time

    import psycopg
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("needs a database server to lose")
    params = connection.get_connection_params()
    database = params.pop("dbname")
    sample = ready_sample(clinician)
    dropped, stop = [], threading.Event()

    def outage():
        with psycopg.connect(**params, dbname=database, autocommit=True) as watcher:
            while not stop.wait(0.2):
                if watcher.execute("SELECT 1 FROM jobs_job WHERE status = 'running'").fetchone():
                    break
        with psycopg.connect(**params, dbname="postgres", autocommit=True) as admin:
            until = time.monotonic() + 8
            while time.monotonic() < until and not stop.is_set():
                dropped.extend(row[0] for row in admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
                    "AND pid <> pg_backend_pid()", [database]).fetchall())
                time.sleep(0.1)

    killer = threading.Thread(target=outage, daemon=True)
    killer.start()
    client = client_for(clinician)
    client.raise_request_exception = False
    try:
        client.post(f"/labs/lab-a/samples/{sample.pk}/submit/")
    finally:
        stop.set()
        killer.join(30)
    connection.close()

    job = Job.objects.get()
    assert sum(dropped) >= 1, "the outage happened while the job ran"
    assert job.status == JobStatus.SUCCEEDED, (job.failed_step, job.error)
    assert job.attempts == 1 and job.outputs.count() >= 10


def test_no_step_outlives_a_runner_killed_with_sigkill(client_for, ready_sample, clinician,
                                                      manager, pipeline_env, settings):
    """The runner is SIGKILLed while a step runs (the OOM killer, an operator): its step, in a
    session of its own, is ended with the run instead of going on next to the next attempt."""
    import os
    import signal
    import threading
    import time

    from jobs.runs.processes import processes_in

    from .workers import steps_started

    sample = ready_sample(clinician)
    work = Path(settings.PIPELINE_WORK_DIR) / str(sample.job_id)
    seen = {}

    def kill_the_runner_mid_step():
        # The runner (run-local, or Nextflow's JVM) works in the job's directory and leads a
        # process group of its own; its steps work in their task directories below work/.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and "runner" not in seen:
            steps = steps_started(work)
            runners = [pid for pid in processes_in(work) if _runner_of(work, pid)]
            if steps and runners:
                seen.update(runner=runners[0], steps=steps)
                os.kill(runners[0], signal.SIGKILL)
            time.sleep(0.02)

    killer = threading.Thread(target=kill_the_runner_mid_step, daemon=True)
    killer.start()
    client_for(clinician).post(f"/labs/lab-a/samples/{sample.pk}/submit/")
    killer.join(10)

    assert seen.get("steps"), "the runner was killed while a step ran"
    assert processes_in(work) == [], "no process of the run is left in its work directory"
    job = Job.objects.get()
    assert (job.status, job.exit_code) == (JobStatus.FAILED, -signal.SIGKILL)
    assert job.error.startswith("The pipeline runner was stopped by SIGKILL")

    client_for(manager).post(f"/labs/lab-a/jobs/{job.pk}/retry/")
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED and job.attempts == 2


def _runner_of(work: Path, pid: int) -> bool:
    import os

    try:
        return (os.readlink(f"/proc/{pid}/cwd") == os.path.realpath(work)
                and os.getpgid(pid) == pid)
    except OSError:
        return False
